"""Files people post with a message: what they are (by their bytes), how they are fetched,
and how their text is read into a prompt within limits."""
