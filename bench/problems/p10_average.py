def average(numbers):
    """Return the mean of a non-empty list of numbers.

    >>> average([1, 2, 3])
    2.0
    >>> average([4])
    4.0
    >>> average([1, 2])
    1.5
    >>> average([0, 0, 3])
    1.0
    """
    ...
