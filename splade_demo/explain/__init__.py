"""What pages 1-5 compute for display: view models over the retrieval layer."""
