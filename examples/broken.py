"""An example with syntax errors, for `make demo` and the tests."""


def greet(name):
    message = "Hello, " + name
    return message


def average(values):
    total = sum(values
    return total / len(values)


if __name__ == "__main__":
    print(greet("world"))
