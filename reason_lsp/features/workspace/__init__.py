"""The workspace feature: indexing the workspace folders and repository context for prompts."""
