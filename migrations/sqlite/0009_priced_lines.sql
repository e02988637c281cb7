-- What priced each call: the price table entries and quantities (JSON
-- [["o"|"t"|"i", entry id, quantity], ...]), so a stored run can be re-priced at another
-- table's prices (`tollgate report --reprice`, the gate's volume/price split). No values of the
-- request are in it, only the table's own ids and decimal quantities.
ALTER TABLE calls ADD COLUMN priced TEXT;
