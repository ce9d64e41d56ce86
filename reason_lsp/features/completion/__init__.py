"""features/completion"""
