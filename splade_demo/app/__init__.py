"""The only Streamlit-aware code: session state, cached resources, the sidebar and progress."""
