import pytest

from vegsales.vegetables import UnknownVegetable, Vocabulary, VocabularyError


@pytest.fixture(scope="module")
def vocabulary() -> Vocabulary:
    return Vocabulary.load()


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        # Spellings seen in the source data.
        ("Tomate", "tomato"),
        ("tomatto", "tomato"),
        ("tomaot", "tomato"),
        ("Poire", "pear"),
        ("Pera", "pear"),
        ("peer", "pear"),
        ("Brussel Sprout", "brussels sprout"),
        ("Brusselsprout", "brussels sprout"),
        ("Brussell Sprout", "brussels sprout"),
        ("Brusel Sprout", "brussels sprout"),
        # Case, accents, hyphens, spaces, plurals.
        ("  TOMATOES ", "tomato"),
        ("Épinards", "spinach"),
        ("Champiñones", "mushroom"),
        ("haricots verts", "green bean"),
        ("Pommes de terre", "potato"),
        ("choux de Bruxelles", "brussels sprout"),
        ("sweet-potatoes", "sweet potato"),
        ("Zanahorias", "carrot"),
        ("brócoli", "broccoli"),
        ("maïs", "corn"),
        # False friends.
        ("pomme de terre", "potato"),
        ("pomme", "apple"),
        ("poireau", "leek"),
        ("poireaux", "leek"),
        ("pepino", "cucumber"),
        ("pepper", "bell pepper"),
        ("chou-fleur", "cauliflower"),
        ("chou", "cabbage"),
        ("pea", "pea"),
        ("pear", "pear"),
        ("peas", "pea"),
        ("pois", "pea"),
        ("patate douce", "sweet potato"),
        ("patate", "potato"),
    ],
)
def test_names_map_to_one_canonical_english_name(vocabulary, raw, canonical):
    assert vocabulary.resolve(raw) == canonical


@pytest.mark.parametrize(
    "canonical",
    [
        "tomato", "potato", "carrot", "onion", "pear", "apple", "brussels sprout", "bell pepper",
        "cucumber", "zucchini", "eggplant", "leek", "cauliflower", "cabbage", "broccoli", "garlic",
        "lettuce", "spinach", "pea", "green bean", "pumpkin", "radish", "beetroot", "celery",
        "asparagus", "artichoke", "turnip", "sweet potato", "mushroom", "corn",
    ],
)  # fmt: skip
def test_vocabulary_covers_the_required_vegetables(vocabulary, canonical):
    assert vocabulary.resolve(canonical) == canonical


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("banana", "unknown vegetable 'banana'; closest: apple"),
        ("xyz", "unknown vegetable 'xyz'"),
        ("car", "unknown vegetable 'car'; closest: "),
        ("---", "unknown vegetable '---'"),
        ("peat", "'peat' matches several vegetables equally well: pea (75%), pear (75%)"),
    ],
)
def test_unrecognised_names_are_rejected_with_suggestions(vocabulary, raw, message):
    result = vocabulary.resolve(raw)
    assert isinstance(result, UnknownVegetable)
    assert result.message.startswith(message)


def test_vocabulary_file_can_be_extended_without_code(tmp_path):
    path = tmp_path / "vocabulary.toml"
    path.write_text('kale = ["chou kale", "col rizada"]\ntomato = ["tomate"]\n', encoding="utf-8")
    vocabulary = Vocabulary.load(path)
    assert vocabulary.resolve("Col Rizada") == "kale"
    assert vocabulary.resolve("kales") == "kale"
    assert vocabulary.canonical_names == {"kale", "tomato"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('tomato = "tomate"', "'tomato' must be a list of names"),
        ('tomato = ["x"]\npotato = ["X"]', "'X' is listed under both 'tomato' and 'potato'"),
        ("tomato = [", "cannot read vocabulary"),
    ],
)
def test_broken_vocabulary_file_is_refused_clearly(tmp_path, text, message):
    path = tmp_path / "vocabulary.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(VocabularyError, match=message):
        Vocabulary.load(path)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("Kail", ("garlic", 0.75), id="a_name_the_vocabulary_lacks_read_as_garlic"),
        pytest.param("Poirée", ("pear", 6 / 7), id="chard_in_french_read_as_pear"),
        pytest.param("tomatto", ("tomato", 6 / 7), id="a_typo"),
        pytest.param("Tomate", None, id="a_listed_name"),
        pytest.param("  CAROTTES ", None, id="a_listed_name_in_capitals_plural_with_spaces"),
        pytest.param("Pomme de Terre", None, id="a_listed_name_with_spaces"),
        pytest.param("zzz", None, id="unknown"),
        pytest.param("", None, id="empty"),
    ],
)
def test_a_name_read_by_likeness_has_its_similarity(vocabulary, raw, expected):
    assert vocabulary.similarity(raw) == (pytest.approx(expected) if expected else None)
