from __future__ import annotations

import referral_rules


def test_all_is_sorted_and_importable() -> None:
    """The public names are listed once, sorted, and all exist."""
    names = referral_rules.__all__
    assert names == sorted(names, key=lambda n: (n[:1].islower(), n))  # classes, then functions
    assert len(set(names)) == len(names)
    assert all(hasattr(referral_rules, n) for n in names)


def test_version_is_a_string() -> None:
    assert isinstance(referral_rules.__version__, str)
    assert referral_rules.__version__.count(".") == 2
