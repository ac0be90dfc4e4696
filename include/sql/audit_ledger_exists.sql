SELECT to_regclass('h2j.ledger') IS NOT NULL
