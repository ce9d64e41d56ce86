"""features/unlikely"""
