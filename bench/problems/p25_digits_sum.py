def digits_sum(n):
    """Return the sum of the decimal digits of a non-negative integer.

    >>> digits_sum(123)
    6
    >>> digits_sum(0)
    0
    >>> digits_sum(9)
    9
    >>> digits_sum(1001)
    2
    """
    ...
