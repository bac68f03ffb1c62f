"""The Smart Data Models types CityAI validates, their numeric attributes, units and plausible ranges.

Units are UN/CEFACT common codes, as NGSI-LD's ``unitCode`` uses them. A reading may carry its own
``unitCode``; a unit that converts to the attribute's unit (°F → °C, m/s → km/h, % → ratio ...) is converted,
any other unit is refused ("wrong unit"), and so is a value outside the attribute's plausible range (a speed
of 5,000 km/h is a unit or wiring error, not traffic). Types outside this catalogue can still be written
through the NGSI-LD API (numbers are stored as they come); devices must be of a catalogued type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Attr:
    label: tuple[str, str]
    unit: str | None  # UN/CEFACT code; None for counts and indexes
    low: float
    high: float
    symbol: str = ""


# unit code -> (target unit code, conversion)
CONVERSIONS: dict[tuple[str, str], Callable[[float], float]] = {
    ("FAH", "CEL"): lambda v: (v - 32.0) * 5.0 / 9.0,
    ("KEL", "CEL"): lambda v: v - 273.15,
    ("MTS", "KMH"): lambda v: v * 3.6,
    ("KMH", "MTS"): lambda v: v / 3.6,
    ("HM", "KMH"): lambda v: v * 1.609344,  # miles per hour
    ("P1", "C62"): lambda v: v / 100.0,  # percent -> ratio
    ("GP", "GQ"): lambda v: v * 1000.0,  # mg/m3 -> µg/m3
    ("GQ", "GP"): lambda v: v / 1000.0,
    ("CMT", "MTR"): lambda v: v / 100.0,
    ("MMT", "MTR"): lambda v: v / 1000.0,
    ("MIN", "SEC"): lambda v: v * 60.0,
}

_T = ("Nhiệt độ", "Temperature")
_RH = ("Độ ẩm tương đối", "Relative humidity")

TYPES: dict[str, dict] = {
    "TrafficFlowObserved": {
        "label": ("Lưu lượng giao thông", "Traffic flow"),
        "attrs": {
            "averageVehicleSpeed": Attr(("Tốc độ trung bình", "Average vehicle speed"), "KMH", 0, 250, "km/h"),
            "intensity": Attr(("Số phương tiện", "Vehicles counted"), None, 0, 100_000, "xe"),
            "occupancy": Attr(("Độ chiếm dụng", "Occupancy"), "C62", 0, 1, ""),
            "averageVehicleLength": Attr(("Chiều dài xe trung bình", "Average vehicle length"), "MTR", 0, 30, "m"),
            "averageHeadwayTime": Attr(("Giãn cách trung bình", "Average headway"), "SEC", 0, 3600, "s"),
        },
        "main": "averageVehicleSpeed",
    },
    "AirQualityObserved": {
        "label": ("Chất lượng không khí", "Air quality"),
        "attrs": {
            "airQualityIndex": Attr(("Chỉ số AQI", "Air quality index"), None, 0, 1000, ""),
            "pm25": Attr(("Bụi PM2.5", "PM2.5"), "GQ", 0, 2000, "µg/m³"),
            "pm10": Attr(("Bụi PM10", "PM10"), "GQ", 0, 5000, "µg/m³"),
            "pm1": Attr(("Bụi PM1", "PM1"), "GQ", 0, 2000, "µg/m³"),
            "no2": Attr(("NO₂", "NO₂"), "GQ", 0, 5000, "µg/m³"),
            "o3": Attr(("O₃", "O₃"), "GQ", 0, 5000, "µg/m³"),
            "so2": Attr(("SO₂", "SO₂"), "GQ", 0, 5000, "µg/m³"),
            "co": Attr(("CO", "CO"), "GQ", 0, 200_000, "µg/m³"),
            "temperature": Attr(_T, "CEL", -40, 70, "°C"),
            "relativeHumidity": Attr(_RH, "C62", 0, 1, ""),
            "windSpeed": Attr(("Tốc độ gió", "Wind speed"), "KMH", 0, 400, "km/h"),
        },
        "main": "pm25",
    },
    "WaterQualityObserved": {
        "label": ("Chất lượng nước", "Water quality"),
        "attrs": {
            "temperature": Attr(_T, "CEL", -5, 60, "°C"),
            "pH": Attr(("Độ pH", "pH"), None, 0, 14, ""),
            "conductivity": Attr(("Độ dẫn điện", "Conductivity"), "D10", 0, 20, "S/m"),
            "turbidity": Attr(("Độ đục", "Turbidity"), None, 0, 5000, "NTU"),
            "O2": Attr(("Oxy hoà tan", "Dissolved oxygen"), "M1", 0, 50, "mg/L"),
            "NH4": Attr(("Amoni", "Ammonium"), "M1", 0, 500, "mg/L"),
            "NO3": Attr(("Nitrat", "Nitrate"), "M1", 0, 500, "mg/L"),
            "salinity": Attr(("Độ mặn", "Salinity"), None, 0, 60, "‰"),
            "waterLevel": Attr(("Mực nước", "Water level"), "MTR", -20, 50, "m"),
        },
        "main": "waterLevel",
    },
    "WeatherObserved": {
        "label": ("Thời tiết", "Weather"),
        "attrs": {
            "temperature": Attr(_T, "CEL", -40, 70, "°C"),
            "relativeHumidity": Attr(_RH, "C62", 0, 1, ""),
            "precipitation": Attr(("Lượng mưa", "Precipitation"), "MMT", 0, 1000, "mm"),
            "windSpeed": Attr(("Tốc độ gió", "Wind speed"), "KMH", 0, 400, "km/h"),
            "atmosphericPressure": Attr(("Áp suất", "Pressure"), "A97", 800, 1100, "hPa"),
        },
        "main": "temperature",
    },
    "NoiseLevelObserved": {
        "label": ("Tiếng ồn", "Noise level"),
        "attrs": {"LAeq": Attr(("Mức ồn LAeq", "LAeq"), "2N", 0, 200, "dB"),
                  "LAmax": Attr(("Mức ồn cực đại", "LAmax"), "2N", 0, 200, "dB")},
        "main": "LAeq",
    },
    "Device": {
        "label": ("Thiết bị", "Device"),
        "attrs": {"batteryLevel": Attr(("Pin", "Battery level"), "C62", 0, 1, ""),
                  "rssi": Attr(("Cường độ sóng", "Signal strength"), "2N", -200, 0, "dBm")},
        "main": "batteryLevel",
    },
}


class UnitError(ValueError):
    """A value whose unit is unknown or does not convert, or that is outside the attribute's range."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def type_label(type_: str, locale: str = "vi") -> str:
    t = TYPES.get(type_)
    return t["label"][0 if locale == "vi" else 1] if t else type_


def normalize(type_: str, attribute: str, value: float, unit: str | None) -> float:
    """The value in the attribute's own unit, checked against its plausible range (UnitError if not)."""
    spec = TYPES.get(type_, {}).get("attrs", {}).get(attribute)
    if spec is None:
        return value
    if unit and unit != spec.unit:
        convert = CONVERSIONS.get((unit, spec.unit or ""))
        if convert is None:
            want = spec.unit or "none"
            raise UnitError("wrong-unit", f"{attribute}: unit {unit!r} does not convert to {want!r}")
        value = convert(value)
    if not spec.low <= value <= spec.high:
        raise UnitError("out-of-range", f"{attribute}: {value:g} is outside the plausible range "
                                        f"{spec.low:g}..{spec.high:g} {spec.symbol}".rstrip())
    return value
