# The site's date formats (FORMAT_MODULE_PATH): one day-month-year order on every page and in
# the admin. A translation adds its own folder beside this one (apps/core/timefmt.py).
DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y, H:i"
SHORT_DATE_FORMAT = "j M Y"
SHORT_DATETIME_FORMAT = "j M Y, H:i"
