"""The PDF edition's checks: where chapters start, and what makes a PDF wrong."""

import pytest
from make_pdf import problems, start_pages

TITLES = ["Getting the data: MNIST", "ReLU and initialization"]


def test_a_chapter_starts_on_the_page_whose_text_opens_with_its_title():
    pages = [
        "deepfound\nContents\nGetting the data: MNIST\nReLU and initialization",  # the intro
        "Getting the data:\nMNIST\nThe four files...",  # a title broken over two lines
        "more of it, and a mention of ReLU and initialization",
        "ReLU and initialization\nWeights...",
    ]
    assert start_pages(pages, TITLES) == [2, 4]


def test_a_chapter_that_never_opens_a_page_is_an_error():
    with pytest.raises(ValueError, match="ReLU and initialization"):
        start_pages(["Getting the data: MNIST", "ReLU is mentioned here"], TITLES)


def test_missing_titles_and_raw_tex_are_problems():
    good = ["Getting the data: MNIST\n784 pixels", "ReLU and initialization\nx = 2"]
    assert problems(good, TITLES) == []
    found = problems(["Getting the data: MNIST\n$$\\frac{1}{n}$$"], TITLES)
    assert found[0] == "chapter title missing: 'ReLU and initialization'"
    assert any("raw TeX" in problem and "frac" in problem for problem in found)
