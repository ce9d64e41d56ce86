"""The workspace index: which files, what they define and import, and context for prompts."""
