def filter_positive(numbers):
    """Return the numbers greater than zero, in order.

    >>> filter_positive([1, -2, 3])
    [1, 3]
    >>> filter_positive([])
    []
    >>> filter_positive([-1, 0])
    []
    >>> filter_positive([5, 6])
    [5, 6]
    """
    ...
