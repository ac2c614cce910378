"""strict_json.check_values: its quick walk (no path named) agrees with the full one."""

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bitagora_protocol.strict_json import (
    MAX_DEPTH,
    MAX_SAFE_INTEGER,
    StrictJsonError,
    _check,
    _plainly_valid,
    check_values,
)

# Every kind of value a parser or a caller hands over, in range and out: text with U+0000 or a
# lone surrogate, integers either side of ±(2^53 − 1), floats, tuples.
leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.sampled_from([MAX_SAFE_INTEGER, MAX_SAFE_INTEGER + 1, -MAX_SAFE_INTEGER - 1])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=5)
)
keys = st.text(max_size=3) | st.sampled_from(["a\x00", "\ud800"])
values = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner)
        | st.dictionaries(
            st.text(max_size=3) | st.sampled_from(["a\x00", "\ud800"]), inner, max_size=3
        )
    ),
    max_leaves=12,
)


def passes(check: Callable[[], None]) -> bool:
    try:
        check()
    except StrictJsonError:
        return False
    return True


@given(values, st.booleans())
def test_the_quick_walk_accepts_only_what_the_full_one_accepts(value: object, floats: bool) -> None:
    full = passes(lambda: _check(value, "v", floats, 0))
    if _plainly_valid(value, 0):
        assert full
    assert passes(lambda: check_values(value, "v", floats=floats)) == full


def nested(levels: int) -> object:
    value: object = 1
    for _ in range(levels):
        value = [value]
    return value


def test_depth_is_refused_by_both_walks() -> None:
    check_values(nested(MAX_DEPTH), "v")
    with pytest.raises(StrictJsonError, match="levels deep"):
        check_values(nested(MAX_DEPTH + 1), "v")
    assert not _plainly_valid(nested(MAX_DEPTH + 1), 0)
