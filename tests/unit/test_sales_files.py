"""Sales files as spreadsheets write them: bytes in, records with their line numbers out, or the error."""

from collections.abc import Iterator

import pytest

from vegsales.sales_files import (
    MalformedLine,
    Sale,
    SalesFileError,
    column_names,
    european_number,
    in_chunks,
    read_sales_file,
    separator_named,
)

BOM = b"\xef\xbb\xbf"


def sale(line: int, date: str, vegetable: str, kilos: str | float) -> tuple[int, dict]:
    return line, {"date": date, "vegetable": vegetable, "kilo_sold": kilos}


def read(data: bytes, **options) -> tuple[str, list[tuple[int, dict]]]:
    sales_file = read_sales_file(data, **options)
    return sales_file.separator, [(s.line, s.record) for s in sales_file.sales()]


@pytest.mark.parametrize(
    ("data", "options", "separator", "sales"),
    [
        pytest.param(
            BOM + "Date;Légume;Kilos\r\n2020-01-06;Tomate;310,5\r\n2020-01-13;Poireau;1 200\r\n".encode(),
            {},
            ";",
            [sale(2, "2020-01-06", "Tomate", 310.5), sale(3, "2020-01-13", "Poireau", 1200.0)],
            id="french_export_bom_crlf_semicolon_decimal_comma_thousands_space",
        ),
        pytest.param(
            'Date;Légume;Kilos\n2020-01-06;Pomme de terre;"1\u00a0250,75"\n2020-01-13;Chou;2\u202f000\n'.encode(),
            {},
            ";",
            [sale(2, "2020-01-06", "Pomme de terre", 1250.75), sale(3, "2020-01-13", "Chou", 2000.0)],
            id="thousands_no_break_space_and_narrow_no_break_space",
        ),
        pytest.param(
            b"Date;Legume;Kilos\n2020-01-06;Tomate;310\n2020-01-13;Tomate;310.5\n2020-01-20;Tomate;12 34\n"
            b"2020-01-27;Tomate;-3,5\n2020-02-03;Tomate;beaucoup\n",
            {},
            ";",
            [
                sale(2, "2020-01-06", "Tomate", "310"),
                sale(3, "2020-01-13", "Tomate", "310.5"),
                sale(4, "2020-01-20", "Tomate", "12 34"),
                sale(5, "2020-01-27", "Tomate", -3.5),
                sale(6, "2020-02-03", "Tomate", "beaucoup"),
            ],
            id="semicolon_other_cells_kept_as_read_for_the_service_to_judge",
        ),
        pytest.param(
            b'date,vegetable,kilo_sold\n2020-01-06,Tomate,"310,5"\n',
            {},
            ",",
            [sale(2, "2020-01-06", "Tomate", "310,5")],
            id="comma_separator_keeps_a_decimal_comma_as_read",
        ),
        pytest.param(
            b"date\tvegetable\tkilo_sold\n2020-01-06\tPomme de terre\t12.5\n2020-01-13\tTomate\t3,5\n",
            {},
            "\t",
            [sale(2, "2020-01-06", "Pomme de terre", "12.5"), sale(3, "2020-01-13", "Tomate", "3,5")],
            id="tab_separated",
        ),
        pytest.param(
            "Fecha\tVerdura\tKg\r\n2020-01-06\tZanahoria\t7\r\n".encode("utf-16"),
            {},
            "\t",
            [sale(2, "2020-01-06", "Zanahoria", "7")],
            id="excel_unicode_text_utf16_bom_tab",
        ),
        pytest.param(
            "Date;Légume;Kilos\r\n2020-01-06;Céleri;3,5\r\n".encode("latin-1"),
            {"encoding": "latin-1"},
            ";",
            [sale(2, "2020-01-06", "Céleri", 3.5)],
            id="latin1_read_with_encoding",
        ),
        pytest.param(
            "Semaine;Légume;Ventes\r\n2020-01-06;Cœur de bœuf;1 200\r\n".encode("cp1252"),
            {"encoding": "cp1252"},
            ";",
            [sale(2, "2020-01-06", "Cœur de bœuf", 1200.0)],
            id="cp1252_read_with_encoding",
        ),
        pytest.param(
            BOM + b"date,vegetable,kilo_sold\n2020-01-06,Tomate,1\n",
            {"encoding": "utf-8"},
            ",",
            [sale(2, "2020-01-06", "Tomate", "1")],
            id="bom_skipped_when_utf8_is_named",
        ),
        pytest.param(
            b"Fecha;Producto;Kg\n2020-01-06;Zanahoria;7,25\n",
            {},
            ";",
            [sale(2, "2020-01-06", "Zanahoria", 7.25)],
            id="spanish_header",
        ),
        pytest.param(
            b"fecha,verdura,kilos\n2020-01-06,Cebolla,7\n",
            {},
            ",",
            [sale(2, "2020-01-06", "Cebolla", "7")],
            id="spanish_header_verdura",
        ),
        pytest.param(
            b"semaine;legume;ventes\n2020-01-06;Poire;2\n",
            {},
            ";",
            [sale(2, "2020-01-06", "Poire", "2")],
            id="french_header_without_accents",
        ),
        pytest.param(
            b"DATE,Vegetable,KILO_SOLD\n2020-01-06,Tomate,1\n",
            {},
            ",",
            [sale(2, "2020-01-06", "Tomate", "1")],
            id="header_in_any_case",
        ),
        pytest.param(
            " DATE ; LÉGUME ; KG \n2020-01-06;Tomate;1\n".encode(),
            {},
            ";",
            [sale(2, "2020-01-06", "Tomate", "1")],
            id="header_capital_accent_and_spaces",
        ),
        pytest.param(
            b"kilo_sold,store,vegetable,date\n1.5,A,Tomate,2020-01-06\n",
            {},
            ",",
            [sale(2, "2020-01-06", "Tomate", "1.5")],
            id="columns_in_any_order_extra_ignored",
        ),
        pytest.param(
            b"date,vegetable,kilo_sold\n\n2020-01-06,Tomate,1\n,,\n2020-01-13,Tomate,2",
            {},
            ",",
            [sale(3, "2020-01-06", "Tomate", "1"), sale(5, "2020-01-13", "Tomate", "2")],
            id="blank_lines_and_empty_rows_skipped_but_counted_no_final_newline",
        ),
        pytest.param(
            b'date,vegetable,kilo_sold\n2020-01-06,"Tomate ""cerise""",1\n2020-01-13,"Poire, Williams",2\n',
            {},
            ",",
            [sale(2, "2020-01-06", 'Tomate "cerise"', "1"), sale(3, "2020-01-13", "Poire, Williams", "2")],
            id="quotes_doubled_and_separator_inside_quotes",
        ),
        pytest.param(
            b"Semaine du;Article;Poids (kg)\n2020-01-06;Tomate;1,5\n",
            {"columns": {"date": "semaine du", "vegetable": "ARTICLE", "kilo_sold": "Poids (kg)"}},
            ";",
            [sale(2, "2020-01-06", "Tomate", 1.5)],
            id="columns_option_names_every_column",
        ),
        pytest.param(
            b"Date;Article;Kilos;Legume\n2020-01-06;Tomate;1,5;rouge\n",
            {"columns": {"vegetable": "Article"}},
            ";",
            [sale(2, "2020-01-06", "Tomate", 1.5)],
            id="columns_option_names_one_the_others_found",
        ),
        pytest.param(
            b"date|vegetable|kilo_sold\n2020-01-06|Tomate|1\n",
            {"separator": "|"},
            "|",
            [sale(2, "2020-01-06", "Tomate", "1")],
            id="separator_forced",
        ),
        pytest.param(
            "Semaine;Produit, variété;Ventes\n2020-01-06;Tomate, cerise;15\n".encode(),
            {"columns": {"vegetable": "Produit, variété"}},
            ";",
            [sale(2, "2020-01-06", "Tomate, cerise", "15")],
            id="header_with_a_comma_inside_a_name_still_semicolon",  # csv.Sniffer says ','
        ),
    ],
)
def test_files_as_spreadsheets_write_them_are_read(data, options, separator, sales):
    assert read(data, **options) == (separator, sales)


def test_a_file_not_in_utf8_is_refused_offering_encodings():
    data = "Date;Légume;Kilos\r\n2020-01-06;Celeri;3,5\r\n".encode("latin-1")
    with pytest.raises(SalesFileError) as refused:
        read_sales_file(data)
    assert str(refused.value) == (
        "line 1 is not utf-8 (byte 0xe9); read as cp1252 it is 'Date;Légume;Kilos': if that is right, "
        "import it again with --encoding cp1252 or --encoding latin-1 (or the encoding it was saved in)"
    )


def test_a_cp1252_file_is_refused_on_the_line_of_its_first_non_utf8_byte():
    data = "date;vegetable;kilo_sold\r\n2020-01-06;Tomate;1\r\n2020-01-13;Cœur de bœuf;2\r\n".encode("cp1252")
    with pytest.raises(SalesFileError) as refused:
        read_sales_file(data)
    assert str(refused.value).startswith(
        "line 3 is not utf-8 (byte 0x9c); read as cp1252 it is '2020-01-13;Cœur de bœuf;2': if that is right"
    )


@pytest.mark.parametrize(
    ("data", "options", "message"),
    [
        pytest.param(
            b"date;vegetable\n2020-01-06;Tomate\n",
            {},
            "the header (date, vegetable) lacks kilo_sold (expected, in any case, kilo_sold: kilo_sold, kilos, kg, "
            "ventes); name the columns with --columns kilo_sold=NAME",
            id="missing_column",
        ),
        pytest.param(
            b"Semaine du;Article;Poids\n",
            {},
            "the header (Semaine du, Article, Poids) lacks date, vegetable, kilo_sold (expected, in any case, "
            "date: date, semaine, fecha; vegetable: vegetable, légume, legume, verdura, producto; kilo_sold: "
            "kilo_sold, kilos, kg, ventes); name the columns with --columns date=NAME,vegetable=NAME,kilo_sold=NAME",
            id="every_column_missing",
        ),
        pytest.param(
            b"date;legume;poids\n",
            {"columns": {"kilo_sold": "Kilos"}},
            "the header (date, legume, poids) lacks kilo_sold (expected, in any case, kilo_sold: the column "
            "'Kilos' named by --columns); name the columns with --columns kilo_sold=NAME",
            id="columns_option_names_an_absent_column",
        ),
        pytest.param(
            b"date;vegetable;kilos;kg\n",
            {},
            "the header has 'kilos' and 'kg' for kilo_sold: name the one to read with --columns kilo_sold=NAME",
            id="column_found_twice",
        ),
        pytest.param(
            b"date vegetable kilo_sold\n2020-01-06 Tomate 1\n",
            {},
            "cannot tell the separator: the header line 'date vegetable kilo_sold' holds no comma, semicolon or "
            "tab between column names; name it with --sep",
            id="no_separator",
        ),
        pytest.param(
            b"date;vegetable;kilo_sold\n2020-01-06;Tomate;1,5\n",
            {"separator": ","},
            "the header (date;vegetable;kilo_sold) lacks date, vegetable, kilo_sold (expected, in any case, "
            "date: date, semaine, fecha; vegetable: vegetable, légume, legume, verdura, producto; kilo_sold: "
            "kilo_sold, kilos, kg, ventes); name the columns with --columns date=NAME,vegetable=NAME,kilo_sold=NAME",
            id="separator_forced_wrongly",
        ),
        pytest.param(
            b"  \r\n\n",
            {},
            "the file is empty: expected a header line (date, vegetable, kilo_sold) and sales",
            id="empty",
        ),
        pytest.param(
            b"date,vegetable,kilo_sold\n",
            {"encoding": "klingon"},
            "unknown encoding 'klingon' (for instance cp1252, latin-1)",
            id="unknown_encoding",
        ),
    ],
)
def test_a_header_that_cannot_be_read_says_why(data, options, message):
    with pytest.raises(SalesFileError) as refused:
        read_sales_file(data, **options)
    assert str(refused.value) == message


GOOD = b"date,vegetable,kilo_sold\n2020-01-06,Tomate,1\n"


@pytest.mark.parametrize(
    ("rest", "line", "message"),
    [
        pytest.param(
            b'2020-01-13,"Tomate,2\n2020-01-20,Tomate,3\n2020-01-27,Tomate,4\n',
            3,
            "line 3: a quote opened on line 3 is never closed (it runs to the end, line 5)",
            id="unclosed_quote_to_the_end",
        ),
        pytest.param(
            b'2020-01-13,"Tomate,2\n2020-01-20,Tomate,3\n2020-01-27,Tomate,4\n2020-02-03,Tomate,5\n'
            b'2020-02-10,Tomate,6\n2020-02-17,"Poire",7\n',
            3,
            "line 3: a quoted field runs from line 3 to line 8: a quote left open? (',' expected after '\"')",
            id="unclosed_quote_swallowing_five_lines",
        ),
        pytest.param(
            b'2020-01-13,"Tomate,2\n2020-01-20,Tomate,3"\n2020-01-27,Tomate,4\n',
            3,
            "line 3: 2 fields where the header has 3, over lines 3 to 4: a quote left open?",
            id="unclosed_quote_closed_at_a_line_end",
        ),
        pytest.param(
            b'2020-01-13,"Tomate\n2020-01-20",3\n',
            3,
            "line 3: a quoted field runs from line 3 to line 4: a quote left open?",
            id="line_break_inside_a_field_of_the_three",
        ),
        pytest.param(
            b'2020-01-13,"Tomate"s,2\n',
            3,
            "line 3: a field goes on after its closing quote (',' expected after '\"')",
            id="text_after_a_closing_quote",
        ),
        pytest.param(b"2020-01-13,Tomate,2,5\n", 3, "line 3: 4 fields where the header has 3", id="too_many_fields"),
        pytest.param(b"\n2020-01-13,Tomate\n", 4, "line 4: 2 fields where the header has 3", id="too_few_fields"),
    ],
)
def test_a_malformed_line_stops_the_reading_at_its_line(rest, line, message):
    sales = read_sales_file(GOOD + rest).sales()
    assert next(sales) == Sale(2, {"date": "2020-01-06", "vegetable": "Tomate", "kilo_sold": "1"})
    with pytest.raises(MalformedLine) as stopped:
        next(sales)
    assert (stopped.value.line, str(stopped.value)) == (line, message)


def test_a_line_break_in_an_ignored_column_is_kept():
    data = b'date,vegetable,kilo_sold,note\n2020-01-06,Tomate,1,"two\nlines"\n2020-01-13,Tomate,2,\n'
    assert read(data)[1] == [sale(2, "2020-01-06", "Tomate", "1"), sale(4, "2020-01-13", "Tomate", "2")]


@pytest.mark.parametrize(
    ("cell", "number"),
    [
        ("310,5", 310.5),
        ("1 200", 1200.0),
        ("1 200,25", 1200.25),
        ("12 345 678,9", 12345678.9),
        ("1\u00a0200", 1200.0),
        ("1\u202f200", 1200.0),
        (" 0,5 ", 0.5),
        ("+2,0", 2.0),
        ("-3,5", -3.5),
        ("310", "310"),
        ("310.5", "310.5"),
        ("12 34", "12 34"),
        ("1 2345", "1 2345"),
        ("1.200,5", "1.200,5"),
        ("3,5,1", "3,5,1"),
        ("", ""),
        ("NaN", "NaN"),
    ],
)
def test_european_numbers(cell, number):
    assert european_number(cell) == number
    assert type(european_number(cell)) is type(number)


@pytest.mark.parametrize(
    ("option", "named"),
    [
        ("date=Semaine du,vegetable=Article,kilo_sold=Poids (kg)",
         {"date": "Semaine du", "vegetable": "Article", "kilo_sold": "Poids (kg)"}),
        (" kilo_sold = Poids , ", {"kilo_sold": "Poids"}),
        ("vegetable=a=b", {"vegetable": "a=b"}),
    ],
)  # fmt: skip
def test_columns_option(option, named):
    assert column_names(option) == named


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("weight=Poids", "'weight=Poids': write COLUMN=NAME, COLUMN one of date, vegetable, kilo_sold"),
        ("kilo_sold", "'kilo_sold': write COLUMN=NAME, COLUMN one of date, vegetable, kilo_sold"),
        ("kilo_sold=", "'kilo_sold=': write COLUMN=NAME, COLUMN one of date, vegetable, kilo_sold"),
        ("date=a,date=b", "date is named twice"),
    ],
)
def test_columns_option_errors(option, message):
    with pytest.raises(SalesFileError) as refused:
        column_names(option)
    assert str(refused.value) == message


@pytest.mark.parametrize(("option", "separator"), [(";", ";"), (",", ","), ("tab", "\t"), ("TAB", "\t"),
                                                   ("\\t", "\t"), ("\t", "\t"), ("|", "|")])  # fmt: skip
def test_sep_option(option, separator):
    assert separator_named(option) == separator


@pytest.mark.parametrize("option", ["", ";;", '"', "\n", "semicolon"])
def test_sep_option_errors(option):
    with pytest.raises(SalesFileError):
        separator_named(option)


def sales_then_malformed(count: int, line: int) -> Iterator[Sale]:
    for n in range(count):
        yield Sale(n + 2, {"date": "2020-01-06", "vegetable": "Tomate", "kilo_sold": str(n)})
    raise MalformedLine(line, "4 fields where the header has 3")


def test_in_chunks_gives_the_sales_before_a_malformed_line_then_its_error():
    chunks = in_chunks(sales_then_malformed(5, 7), 2)
    assert [[s.line for s in next(chunks)] for _ in range(3)] == [[2, 3], [4, 5], [6]]
    with pytest.raises(MalformedLine) as stopped:
        next(chunks)
    assert stopped.value.line == 7


def test_in_chunks_of_a_whole_file():
    sales = [Sale(line, {}) for line in range(2, 9)]
    assert [[s.line for s in chunk] for chunk in in_chunks(sales, 3)] == [[2, 3, 4], [5, 6, 7], [8]]
    assert list(in_chunks([], 3)) == []


@pytest.mark.parametrize(
    ("data", "lines", "ignored"),
    [
        (b"date,vegetable,kilo_sold\n2020-01-06,Tomate,1\n", 2, ()),
        (b"store,date,vegetable,kilo_sold,note\r\nA,2020-01-06,Tomate,1,x", 2, ("store", "note")),
    ],
)
def test_lines_and_ignored_columns(data, lines, ignored):
    sales_file = read_sales_file(data)
    assert (sales_file.lines, sales_file.ignored_columns) == (lines, ignored)
