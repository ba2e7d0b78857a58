"""A tiny calculator. Its one test fails: `add` subtracts."""


def add(a, b):
    return a - b


def mul(a, b):
    return a * b
