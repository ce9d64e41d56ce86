def clamp(x, low, high):
    """Limit x to the range [low, high].

    >>> clamp(5, 0, 10)
    5
    >>> clamp(-3, 0, 10)
    0
    >>> clamp(12, 0, 10)
    10
    >>> clamp(0, 0, 0)
    0
    """
    ...
