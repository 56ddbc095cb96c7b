"""Medians and ratios as the report states them: robust to one slow run, never an average."""

import statistics


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(numerator, denominator):
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def fmt(value, digits=2, unit=''):
    if value is None:
        return 'n/a'
    return '%.*f%s' % (digits, value, unit)
