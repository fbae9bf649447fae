from peerchat.bounded import keep_latest


def test_the_oldest_goes_past_the_bound_and_a_key_set_again_is_the_newest() -> None:
    table: dict[str, int] = {}
    for n, key in enumerate("abc"):
        keep_latest(table, key, n, most=3)
    assert keep_latest(table, "a", 9, most=3) == 9  # a moves behind b and c
    keep_latest(table, "d", 4, most=3)
    assert list(table.items()) == [("c", 2), ("a", 9), ("d", 4)]


def test_a_smaller_bound_trims_to_it() -> None:
    table = {str(n): n for n in range(10)}
    keep_latest(table, "x", -1, most=2)
    assert list(table) == ["9", "x"]
