def maximum(numbers):
    """Return the largest number in a non-empty list.

    >>> maximum([1, 5, 3])
    5
    >>> maximum([-2, -9])
    -2
    >>> maximum([7])
    7
    >>> maximum([0, 100, 99])
    100
    """
    ...
