from concerthouse.personal_data_map import exempt

exempt(
    "retention.erasurejournalentry",
    reason="The record that an erasure happened, as keyed hashes from which no one can be read "
    "back; kept so that restoring a backup can never bring an erased person back (Art. 17).",
)
