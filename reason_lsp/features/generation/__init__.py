"""features/generation"""
