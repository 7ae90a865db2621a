"""The book of deliveries sent straight from the feed: chains, waiting, settling, taking out."""

from __future__ import annotations

from webhooks.direct import Book, Chain, Failure

A, B = ("shop", "ep_a"), ("shop", "ep_b")
ORDER_1, ORDER_2 = "cscart\x1f1", "cscart\x1f2"


def fields(n: int) -> dict[str, str]:
    return {"type": "order.status_changed", "sequence": str(n)}


def ids(chain: Chain) -> list[str]:
    return [feed_id for feed_id, _ in chain.messages]


def test_an_orders_changes_form_one_chain_that_waits_for_a_slot() -> None:
    book = Book()
    book.add("shop", "ep_a", ORDER_1, "1-0", fields(1))
    book.add("shop", "ep_a", ORDER_2, "2-0", fields(1))
    book.add("shop", "ep_a", ORDER_1, "3-0", fields(2))
    chain = book.chain("shop", "ep_a", ORDER_1)
    assert chain is not None
    assert ids(chain) == ["1-0", "3-0"]
    assert chain.member == f"ep_a\x1f{ORDER_1}"
    assert book.waiting() == [A]
    assert len(book) == 3
    first = book.next_waiting(A)
    assert first is chain  # the longest waiting first
    second = book.next_waiting(A)
    assert second is not None
    assert ids(second) == ["2-0"]
    assert book.next_waiting(A) is None
    assert book.waiting() == []


def test_an_entry_is_done_once_every_endpoints_delivery_of_it_is_settled() -> None:
    book = Book()
    book.add("shop", "ep_a", ORDER_1, "1-0", fields(1))
    book.add("shop", "ep_b", ORDER_1, "1-0", fields(1))
    a, b = book.chain("shop", "ep_a", ORDER_1), book.chain("shop", "ep_b", ORDER_1)
    assert a is not None
    assert b is not None
    assert book.held_ids("shop") == {"1-0"}
    assert book.last_use(a) is None
    assert book.settle(a) is None  # ep_b still holds it
    assert book.chain("shop", "ep_a", ORDER_1) is None  # emptied: forgotten
    assert book.last_use(b) == "1-0"
    assert book.settle(b) == "1-0"
    assert book.held_ids("shop") == set()
    assert len(book) == 0


def test_a_reference_held_by_the_fan_out_keeps_an_entry_from_being_done() -> None:
    book = Book()
    book.refer("shop", "1-0")
    book.add("shop", "ep_a", ORDER_1, "1-0", fields(1))
    chain = book.chain("shop", "ep_a", ORDER_1)
    assert chain is not None
    assert book.settle(chain) is None
    assert book.unrefer("shop", "1-0") == "1-0"


def test_taking_a_chain_out_answers_its_ids_in_order_and_those_now_done() -> None:
    book = Book()
    book.add("shop", "ep_a", ORDER_1, "1-0", fields(1))
    book.add("shop", "ep_b", ORDER_1, "1-0", fields(1))
    book.add("shop", "ep_a", ORDER_1, "2-0", fields(2))
    chain = book.chain("shop", "ep_a", ORDER_1)
    assert chain is not None
    assert book.ids(chain) == (["1-0", "2-0"], ["2-0"])  # 1-0 is still ep_b's
    assert book.take(chain) == (["1-0", "2-0"], ["2-0"])
    assert book.chain("shop", "ep_a", ORDER_1) is None
    assert book.waiting() == [B]  # ep_a's chain left the waiting list with it
    assert book.held_ids("shop") == {"1-0"}


def test_a_failed_chain_is_listed_until_it_is_taken_out() -> None:
    book = Book()
    book.add("shop", "ep_a", ORDER_1, "1-0", fields(1))
    chain = book.next_waiting(A)
    assert chain is not None
    book.fail(chain, Failure({}, at_ms=1, next_ms=2))
    book.add("shop", "ep_a", ORDER_1, "2-0", fields(2))  # joins the failed chain
    assert book.failed() == [chain]
    assert ids(chain) == ["1-0", "2-0"]
    book.take(chain)
    assert book.failed() == []


def test_a_parked_chain_waits_no_more_until_it_is_put_back_first() -> None:
    book = Book()
    book.add("shop", "ep_a", ORDER_1, "1-0", fields(1))
    book.add("shop", "ep_a", ORDER_2, "2-0", fields(1))
    chain = book.chain("shop", "ep_a", ORDER_2)
    assert chain is not None
    assert book.park(chain)
    assert book.waiting_of(A) != []
    assert chain not in book.waiting_of(A)
    assert not book.park(chain)  # not waiting any more
    book.unpark(chain)
    assert book.next_waiting(A) is chain
    assert not book.park(chain)  # started by a slot: not waiting


def test_an_endpoint_holding_its_most_takes_no_new_chain() -> None:
    book = Book(held_max=2)
    book.add("shop", "ep_a", ORDER_1, "1-0", fields(1))
    assert book.has_room("shop", "ep_a")
    book.add("shop", "ep_a", ORDER_2, "2-0", fields(1))
    assert not book.has_room("shop", "ep_a")
    assert not Book(held_max=2).has_room("shop", "ep_a", offered=2)
    assert book.has_room("shop", "ep_b")
    assert book.has_room("other", "ep_a")


def test_what_is_held_is_counted_per_tenant_and_endpoint_until_settled() -> None:
    book = Book()
    book.add("shop", "ep_a", ORDER_1, "1-0", fields(1))
    book.add("shop", "ep_a", ORDER_2, "2-0", fields(1))
    book.add("shop", "ep_b", ORDER_1, "1-0", fields(1))
    book.add("other", "ep_c", ORDER_1, "9-0", fields(1))
    assert book.held() == {"shop": {"ep_a": 2, "ep_b": 1}, "other": {"ep_c": 1}}
    chain = book.next_waiting(B)
    assert chain is not None
    book.settle(chain)
    assert book.held() == {"shop": {"ep_a": 2}, "other": {"ep_c": 1}}  # none left: not listed
