"""What the pages compute for display: explanations and view models. No Streamlit."""
