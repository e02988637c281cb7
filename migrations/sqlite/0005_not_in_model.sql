-- Calls to operations the AWS model does not have but the request names (X-Amz-Target,
-- Action=, the RPCv2 CBOR path) are recorded under their real names with kind 'not-in-model'
-- (calls.kind is TEXT: no change there). Reports mark such operations, so their totals count
-- them; 0 for runs recorded before.
ALTER TABLE operation_totals ADD COLUMN not_in_model INTEGER NOT NULL DEFAULT 0;
