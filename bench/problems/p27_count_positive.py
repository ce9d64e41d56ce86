def count_positive(numbers):
    """Count the numbers greater than zero.

    >>> count_positive([1, -2, 3])
    2
    >>> count_positive([])
    0
    >>> count_positive([-5])
    0
    >>> count_positive([4, 4])
    2
    """
    ...
