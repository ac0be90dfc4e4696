-- One attempt at a Harvest request slot: 0 when taken, else the seconds to wait first.
SELECT h2j.take_rate_slot(
    %(bucket)s, %(max_calls)s::integer, make_interval(secs => %(period)s::double precision)
)
