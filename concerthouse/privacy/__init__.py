"""The privacy core: the mechanism every app shares, driven by the personal-data map.

- `map`: the declarations (what each model holds, why, for how long, what erasure does to it).
- `person`: the person adapter the app owning people registers (find by address, who is restricted,
  the grounds of a restriction), what other apps register about people (a standing consent), and
  the hooks each app adds to a right (an objection withdraws consents, an erasure suppresses the
  address).
- `export`: a person's rows as the map declares them (Art. 15 and 20).
- `erasure`: deleting and erasing rows in sets, and `erase_person` (Art. 17).
- `journal`: the erasure journal, which makes an erasure survive the restore of a backup.

Apps stand on this package; `privacy_requests` and `retention` reach every other app only through it.
"""
