-- Observations: one row per pair per CMC `last_updated`, from every landed /v4/dex/spot-pairs/latest
-- page (each configured network, every scroll_id page), with the USD quote (the `quote[]` element whose
-- convert_id is 2781). A pair is keyed by its network and its contract address; an observation
-- landed more than once is kept from the latest fetch. Addresses: hexadecimal (EVM) ones lower-cased
-- (their case is only a checksum), others (Solana's base58: case is part of the address) as sent.
{{ stg_dex_pair_observations('spot_pairs_latest') }}
