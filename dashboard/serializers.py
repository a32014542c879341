"""Response shapes of the dashboard endpoints, for the OpenAPI schema.

The views answer plain dicts built by ``dashboard.situation`` and ``dashboard.timeline``;
these serializers describe those dicts exactly (nullability included), so schema-driven
clients and fuzzers can rely on them.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from reports.categories import ROAD_CAUSES, WATER_TRENDS, Category

# --- /api/v1/situation/ ---------------------------------------------------------------------


class _EntryBase(serializers.Serializer):
    subject = serializers.CharField()
    report = serializers.IntegerField()
    number = serializers.CharField(help_text="受付番号 R-000123")
    agency = serializers.CharField(help_text="報告した機関のコード")
    observed_at = serializers.DateTimeField()
    recorded_at = serializers.DateTimeField()


class EvacueesEntrySerializer(_EntryBase):
    facility = serializers.CharField()
    count = serializers.IntegerField(allow_null=True)
    households = serializers.IntegerField(allow_null=True)
    capacity = serializers.IntegerField(allow_null=True)


class OutageEntrySerializer(_EntryBase):
    area = serializers.CharField(allow_null=True)
    households = serializers.IntegerField(allow_null=True)
    restoration = serializers.CharField(allow_null=True)


class RoadEntrySerializer(_EntryBase):
    road = serializers.CharField(allow_null=True)
    place = serializers.CharField(allow_null=True)
    cause = serializers.ChoiceField(choices=ROAD_CAUSES, allow_null=True)
    passable = serializers.BooleanField(allow_null=True)


class WaterEntrySerializer(_EntryBase):
    area = serializers.CharField(allow_null=True)
    trend = serializers.ChoiceField(choices=WATER_TRENDS, allow_null=True)
    level_m = serializers.FloatField(allow_null=True)
    flooding = serializers.BooleanField(allow_null=True)


class MedicalEntrySerializer(_EntryBase):
    facility = serializers.CharField(allow_null=True)
    accepting = serializers.BooleanField(allow_null=True)
    beds_available = serializers.IntegerField(allow_null=True)
    injured = serializers.IntegerField(allow_null=True)


class FireEntrySerializer(_EntryBase):
    area = serializers.CharField(allow_null=True)
    households = serializers.IntegerField(allow_null=True)
    people = serializers.IntegerField(allow_null=True)
    evacuation_order = serializers.BooleanField(allow_null=True)


class _Tile(serializers.Serializer):
    reports = serializers.IntegerField(help_text="この数字の元になった報告（対象）の数")
    updated_at = serializers.DateTimeField(
        allow_null=True, help_text="元になった報告のうち最新の発生・確認日時"
    )


class EvacueesTileSerializer(_Tile):
    total = serializers.IntegerField()
    households = serializers.IntegerField()
    facilities = EvacueesEntrySerializer(many=True)


class DistrictOutageSerializer(serializers.Serializer):
    district = serializers.CharField()
    households = serializers.IntegerField()


class OutageTileSerializer(_Tile):
    total_households = serializers.IntegerField()
    areas = OutageEntrySerializer(many=True)
    districts = DistrictOutageSerializer(many=True)


class RoadTileSerializer(_Tile):
    closed = serializers.IntegerField()
    roads = RoadEntrySerializer(many=True)


class WaterTileSerializer(_Tile):
    rising = serializers.IntegerField()
    flooding = serializers.IntegerField()
    areas = WaterEntrySerializer(many=True)


class MedicalTileSerializer(_Tile):
    accepting = serializers.IntegerField()
    not_accepting = serializers.IntegerField()
    beds_available = serializers.IntegerField()
    facilities = MedicalEntrySerializer(many=True)


class FireTileSerializer(_Tile):
    active = serializers.IntegerField()
    evacuation_orders = serializers.IntegerField()
    areas = FireEntrySerializer(many=True)


class IncidentsTileSerializer(serializers.Serializer):
    open = serializers.IntegerField()


class SilentFacilitySerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    lat = serializers.FloatField()
    lng = serializers.FloatField()


class SilentAgencySerializer(serializers.Serializer):
    agency = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    last_report_at = serializers.DateTimeField(allow_null=True)
    expected_interval_minutes = serializers.IntegerField()
    facilities = SilentFacilitySerializer(many=True)


@extend_schema_serializer(component_name="Situation")
class SituationSerializer(serializers.Serializer):
    as_of = serializers.DateTimeField()
    evacuees = EvacueesTileSerializer()
    outage = OutageTileSerializer()
    road_closure = RoadTileSerializer()
    water_level = WaterTileSerializer()
    medical_capacity = MedicalTileSerializer()
    fire = FireTileSerializer()
    incidents = IncidentsTileSerializer()
    silent_agencies = SilentAgencySerializer(many=True)


# --- /api/v1/map/ ---------------------------------------------------------------------------


class PointSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="Point")
    coordinates = serializers.ListField(
        child=serializers.FloatField(), min_length=2, max_length=2, help_text="[経度, 緯度]"
    )


class MapPropertiesSerializer(serializers.Serializer):
    category = serializers.ChoiceField(choices=Category.choices)
    category_label = serializers.CharField()
    subject = serializers.CharField()
    report = serializers.IntegerField()
    number = serializers.CharField()
    agency = serializers.CharField(help_text="機関名")
    fields = serializers.DictField(help_text="報告の項目（分類ごと、design.md §5）")
    text = serializers.CharField(allow_blank=True, help_text="本文（報告者には空）")
    observed_at = serializers.DateTimeField()
    recorded_at = serializers.DateTimeField()
    url = serializers.CharField(allow_null=True)
    photo = serializers.CharField(allow_null=True, help_text="最新の写真の URL")


class MapFeatureSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="Feature")
    geometry = PointSerializer()
    properties = MapPropertiesSerializer()


@extend_schema_serializer(component_name="SituationMap")
class MapSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="FeatureCollection")
    as_of = serializers.DateTimeField()
    features = MapFeatureSerializer(many=True)


class PlaceFeatureSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="Feature")
    geometry = serializers.DictField(help_text="GeoJSON geometry")
    properties = serializers.DictField(
        help_text="layer: district | district_boundary | facility; code, name, ..."
    )


@extend_schema_serializer(component_name="MapPlaces")
class PlacesSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="FeatureCollection")
    features = PlaceFeatureSerializer(many=True)


# --- /api/v1/situation/series/ --------------------------------------------------------------


class SeriesPointSerializer(serializers.Serializer):
    t = serializers.DateTimeField()
    value = serializers.IntegerField()


@extend_schema_serializer(component_name="SituationSeries")
class SeriesSerializer(serializers.Serializer):
    as_of = serializers.DateTimeField()
    window = serializers.ChoiceField(choices=["24h", "event"])
    start = serializers.DateTimeField()
    evacuees = SeriesPointSerializer(many=True)
    outage = SeriesPointSerializer(many=True)


# --- /api/v1/timeline/ ----------------------------------------------------------------------


class TimelineEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="監査イベントの番号")
    at = serializers.DateTimeField()
    action = serializers.CharField()
    action_label = serializers.CharField()
    category = serializers.CharField(allow_null=True)
    category_label = serializers.CharField(allow_null=True)
    agency = serializers.CharField(allow_null=True)
    agency_name = serializers.CharField(allow_null=True)
    actor = serializers.CharField(allow_null=True)
    channel = serializers.CharField(allow_null=True)
    report = serializers.IntegerField(allow_null=True)
    number = serializers.CharField(allow_null=True)
    report_status = serializers.CharField(allow_null=True)
    revision = serializers.IntegerField(allow_null=True)
    incident = serializers.IntegerField(allow_null=True)
    incident_title = serializers.CharField(allow_null=True)
    notice = serializers.IntegerField(allow_null=True)
    text = serializers.CharField(allow_null=True)
    summary = serializers.CharField(allow_blank=True)
    url = serializers.CharField(allow_null=True)


@extend_schema_serializer(component_name="TimelinePage")
class TimelinePageSerializer(serializers.Serializer):
    next = serializers.CharField(allow_null=True, help_text="次のページの URL（なければ null）")
    results = TimelineEntrySerializer(many=True)
