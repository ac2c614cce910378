-- Device store, version 11: find a till's newest mode switch (`config` records, e.g. training)
-- at start without reading the whole journal: a small partial index over those records only.

CREATE INDEX journal_config ON journal (json_extract(body, '$.setting'), seq) WHERE kind = 'config';
