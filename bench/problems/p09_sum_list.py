def sum_list(numbers):
    """Return the sum of the numbers in a list.

    >>> sum_list([1, 2, 3])
    6
    >>> sum_list([])
    0
    >>> sum_list([-1, 1])
    0
    >>> sum_list([10])
    10
    """
    ...
