# Japanese date formats (FORMAT_MODULE_PATH; apps/core/timefmt.py): year first, as Japanese
# writes dates, one format on every page and in the admin, like portal/formats/en.
DATE_FORMAT = "Y年n月j日"
DATETIME_FORMAT = "Y年n月j日 H:i"
SHORT_DATE_FORMAT = "Y/m/d"
SHORT_DATETIME_FORMAT = "Y/m/d H:i"
