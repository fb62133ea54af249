"""Page sections drawn by several calls from views/ (the explain sections of pages 3-5)."""
