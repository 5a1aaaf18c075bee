"""Recommendation logs: the schema, its checks, and packing into per-seller batches.

Schema (one row per recommendation event; Parquet, any number of files, any partitioning):

==================  ========  ===========================================================
column              type      meaning
==================  ========  ===========================================================
``seller``          int/str   receiver of the recommendation
``time``            int/float order of events within a seller (timestamps are accepted)
                    /timestamp
``recommendation``  float     the recommended value ``m_t`` (restock quantity, price, ...)
``action``          float     continuous adoption: what the seller did ``a_t``
``own_estimate``    float     the seller's own value ``own_t`` (required with ``action``;
                              optional with ``followed``, where what-if profits need it)
``followed``        0/1/bool  binary adoption: did the seller follow the recommendation
``truth``           float     realized value the recommendation aimed at (alias ``outcome``);
                              fidelity ``f_t = 1 - min(1, |m_t - truth_t| / scale)``
``fidelity``        float     fidelity in [0, 1] given directly (takes precedence over truth)
``feedback``        0/1/bool  did the seller see how accurate the recommendation was
``segment``         str       optional label used to group sellers in reports
==================  ========  ===========================================================

Either ``action`` + ``own_estimate`` or ``followed`` must be present (both: choose with
``adoption``). A separate seller table (``seller``, optional ``segment``) may be joined;
events of sellers missing from it are excluded and counted.

Events may be stored in any order; they are ordered by ``time`` within each seller. What
cannot be used is never dropped silently; :class:`Exclusions` counts it by reason:

* row excluded: missing seller, time or recommendation; an event of a seller unknown to the
  seller table; identical duplicate events (one copy kept); events of one seller at the same
  time with different content (their order is unknown, all are excluded);
* decision not used (the event still updates trust): missing or non-finite action or
  own estimate, ``followed`` not 0/1;
* feedback not used (the decision still counts, trust is not updated): ``feedback`` missing
  or not 0/1; feedback shown but fidelity unknown (missing truth or fidelity, fidelity
  outside [0, 1]).

Missing columns and columns of the wrong type are errors naming the file and the column.
"""

from .exclusions import REASONS, Exclusions
from .packing import SellerOrderCheck, StreamPacker, _clean_chunk, pack_sorted  # noqa: F401
from .reading import OutOfOrder, direct_read_plan, event_columns, pack_stream, read_as_stored
from .sampling import seller_hashes, seller_sample_mask
from .schema import EVENT_COLUMNS, MAX_MAGNITUDE, LogSchemaError, LogSource, PackOptions, resolve_logs

__all__ = ["LogSchemaError", "LogSource", "PackOptions", "Exclusions", "REASONS", "pack_sorted",
           "StreamPacker", "SellerOrderCheck", "resolve_logs", "EVENT_COLUMNS", "MAX_MAGNITUDE",
           "event_columns", "direct_read_plan", "read_as_stored", "pack_stream", "OutOfOrder",
           "seller_hashes", "seller_sample_mask"]
