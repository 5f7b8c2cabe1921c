"""Places and problems: what a load-time finding says about where it is."""

from __future__ import annotations

from fastgw.errors import Place, Problem


def test_a_child_place_escapes_its_keys_as_rfc_6901_says() -> None:
    place = Place("api.yaml").child("paths", "/pets/{id}", "get").child("responses", 200, "a~b")
    assert place.pointer == "/paths/~1pets~1{id}/get/responses/200/a~0b"
    assert place.file == "api.yaml"
    assert str(place) == "api.yaml#/paths/~1pets~1{id}/get/responses/200/a~0b"
    assert str(Place("api.yaml")) == "api.yaml"


def test_places_compare_and_hash_by_file_and_pointer() -> None:
    built = Place("f", "/paths").child("/pets")
    written = Place("f", "/paths/~1pets")
    assert built == written
    assert hash(built) == hash(written)
    assert len({built, written, Place("g", "/paths/~1pets")}) == 2
    assert Place("f").child() == Place("f")
    assert repr(built) == "Place(file='f', pointer='/paths/~1pets')"
    assert Problem(built, "x") == Problem(written, "x")


def test_a_deep_place_builds_its_pointer_without_recursion() -> None:
    place = Place("f")
    for index in range(5_000):
        place = place.child(index % 10)
    assert place.pointer.count("/") == 5_000
