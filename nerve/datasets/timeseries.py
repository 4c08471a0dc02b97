"""Classic univariate time series (forecasting examples): dates + float32 values.

==========================  =========================================  ====== ============
name                        series                                     rows   dates
==========================  =========================================  ====== ============
``airline-passengers``      monthly international airline passengers   144    1949-01 ..
                            (thousands), Box & Jenkins series G                   1960-12
``daily-min-temperatures``  daily minimum temperature, Melbourne (°C)  3,650  1981-01-01 ..
``monthly-sunspots``        Zurich monthly mean sunspot numbers        2,820  1749-01 ..
==========================  =========================================  ====== ============

Files (``<name>.csv``, gzipped or not) are read from the ``path`` argument,
``$NERVE_DATA/timeseries/`` or the cache, else downloaded from the ``jbrownlee/Datasets``
mirror and checked against their sha256 (also checked on local copies; ``verify=False``
skips it). :func:`load_series` returns ``(dates, values)``: a ``datetime64[M]`` (monthly)
or ``datetime64[D]`` (daily) array and a float32 array. :func:`sliding_windows` turns a
series into supervised ``(X, y)`` pairs for a forecaster.
"""
from __future__ import annotations

import csv
import io

import numpy as np

from ._download import (
    DatasetError,
    DatasetNotFoundError,
    Resource,
    download_file,
    locate,
    read_file,
    search_dirs,
    where_message,
)
from .text_corpora import _download_dir, sha256_check

__all__ = ["load_series", "load_airline_passengers", "load_daily_min_temperatures",
           "load_monthly_sunspots", "sliding_windows", "SERIES"]

NAME = "timeseries"
MIRRORS = ["https://raw.githubusercontent.com/jbrownlee/Datasets/"
           "d20fcb6402ae34e653d4513b00f39257bb37ed7f/",
           "https://raw.githubusercontent.com/jbrownlee/Datasets/master/"]
SERIES = {
    "airline-passengers": {
        "sha256": "8cb51be753a718d9be5d76d7e238cc224792754676adc21faa59e954b0201621",
        "header": ["Month", "Passengers"], "unit": "M", "rows": 144},
    "daily-min-temperatures": {
        "sha256": "8b9de63ed6789492bf497625e7f9beb96a63d367b4b0a21754006f749fa5e5da",
        "header": ["Date", "Temp"], "unit": "D", "rows": 3650},
    "monthly-sunspots": {
        "sha256": "c4ec8cc57d9f6fb6ecdb3e1f37f25b6f4badd5124c55931052b0cd2fc3bc71f3",
        "header": ["Month", "Sunspots"], "unit": "M", "rows": 2820},
}


def load_series(name: str, path=None, download: bool = True, verify: bool = True):
    """``(dates, values)`` of the series ``name`` (a key of ``SERIES``)."""
    spec = SERIES.get(name)
    if spec is None:
        raise ValueError(f"timeseries.load_series: unknown series {name!r}; expected one of "
                         f"{list(SERIES)}")
    filename = f"{name}.csv"
    dirs = search_dirs(NAME, path)
    found = locate([filename], dirs)
    if found is not None:
        p = found[filename]
    elif download:
        p = download_file(Resource(filename, sha256=spec["sha256"]), MIRRORS,
                          _download_dir(NAME, path), label=NAME)
    else:
        raise DatasetNotFoundError(f"nerve.datasets.{NAME}: {filename} not found and download "
                                   "is off; " + where_message(NAME, [filename], dirs))
    data = read_file(p)
    if verify:
        sha256_check(data, spec["sha256"], p)
    return _parse(data, p, spec)


def _parse(data: bytes, where, spec):
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DatasetError(f"{where}: not UTF-8 text ({e})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    head = next(reader, None)
    if head is None or [h.strip() for h in head] != spec["header"]:
        raise DatasetError(f"{where}: expected the header {spec['header']}, got {head!r}")
    dates, values = [], []
    for row in reader:
        if not row or not "".join(row).strip():
            continue
        if len(row) != 2:
            raise DatasetError(f"{where}, line {reader.line_num}: expected 2 fields, got "
                               f"{row!r}")
        try:
            values.append(float(row[1]))
        except ValueError:
            raise DatasetError(f"{where}, line {reader.line_num}: value {row[1]!r} is not a "
                               "number") from None
        dates.append(row[0].strip())
    try:
        d = np.array(dates, dtype=f"datetime64[{spec['unit']}]")
    except ValueError as e:
        raise DatasetError(f"{where}: a date does not parse ({e})") from None
    return d, np.array(values, dtype=np.float32)


def load_airline_passengers(path=None, download: bool = True, verify: bool = True):
    """Monthly airline passengers 1949-1960 (thousands): 144 ``datetime64[M]`` dates and
    float32 values (min 104, max 622)."""
    return load_series("airline-passengers", path, download, verify)


def load_daily_min_temperatures(path=None, download: bool = True, verify: bool = True):
    """Daily minimum temperatures in Melbourne 1981-1990: 3,650 ``datetime64[D]`` dates
    and float32 values in °C (no rows for 1984-12-31 and 1988-12-31, as published)."""
    return load_series("daily-min-temperatures", path, download, verify)


def load_monthly_sunspots(path=None, download: bool = True, verify: bool = True):
    """Monthly mean sunspot numbers 1749-1983: 2,820 ``datetime64[M]`` dates and float32
    values."""
    return load_series("monthly-sunspots", path, download, verify)


def sliding_windows(series, window: int, horizon: int = 1, stride: int = 1):
    """Supervised pairs from a series: ``X[i] = series[s : s + window]`` and ``y[i]`` the
    ``horizon`` values after it (``s = i * stride``).

    ``series`` is 1-D (T,) or 2-D (T, features). ``X`` is (N, window) or (N, window,
    features); ``y`` is (N,) / (N, features) for ``horizon=1``, else (N, horizon) /
    (N, horizon, features). The dtype is kept (float32 stays float32); the arrays are
    copies. ``N = (T - window - horizon) // stride + 1``.

    >>> X, y = sliding_windows(np.arange(6, dtype=np.float32), window=3)
    >>> X.tolist(), y.tolist()
    ([[0.0, 1.0, 2.0], [1.0, 2.0, 3.0], [2.0, 3.0, 4.0]], [3.0, 4.0, 5.0])
    """
    a = np.asarray(series)
    if a.ndim not in (1, 2):
        raise ValueError(f"sliding_windows: series must be 1-D (T,) or 2-D (T, features), got "
                         f"shape {a.shape}")
    for nm, v in (("window", window), ("horizon", horizon), ("stride", stride)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"sliding_windows: {nm} must be a positive int, got {v!r}")
    t = a.shape[0]
    if t < window + horizon:
        raise ValueError(f"sliding_windows: a series of {t} steps is too short for window "
                         f"{window} + horizon {horizon}")
    n = (t - window - horizon) // stride + 1
    starts = np.arange(n) * stride
    X = a[starts[:, None] + np.arange(window)]
    y = a[starts[:, None] + window + np.arange(horizon)]
    if horizon == 1:
        y = y[:, 0]
    return X, y
