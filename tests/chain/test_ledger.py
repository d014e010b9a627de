"""The ledger through the Python chain layer, on the in-process EVM and on a real anvil."""

from __future__ import annotations

import pytest
from eth_utils import keccak
from web3.logs import DISCARD

from tclearn.chain.ledger import BlockState, ProposalState
from tclearn.errors import TransactionReverted
from tclearn.fba.draw import commitment, draw_index, genesis_seed, mix
from tclearn.fba.quorum import threshold
from tests.conftest import MIN_BATCH, PROPOSAL_TIMEOUT, VOTE_TIMEOUT, Coalition, deploy_coalition, make_accounts

ZERO = b"\x00" * 32


def register(c: Coalition, member_index: int = 0, tag: int = 1, parent: int | None = None) -> int:
    parent = c.ledger.cursor().head if parent is None else parent
    return c.ledger.register_update(c.members[member_index], parent, bytes([tag]) * 32, bytes([tag + 1]) * 32, 64, 16)


def propose(c: Coalition, updates: list[int], model: bytes = b"\x44" * 32) -> int:
    round_ = c.ledger.current_round()
    return c.ledger.propose(c.general(), c.ledger.cursor().head, model, b"\x55" * 32, updates, round_.number, ZERO)


def vote(c: Coalition, validator_index: int, block: int, accept: bool) -> None:
    c.ledger.vote(c.validators[validator_index], block, accept, ZERO, ZERO, ZERO)


def refused(name: str):
    """Expects the ledger to refuse with the named custom error, whichever backend."""
    return pytest.raises(TransactionReverted, match=rf"^transaction reverted: {name}\(")


def test_genesis_state(coalition: Coalition) -> None:
    cursor = coalition.ledger.cursor()
    assert (cursor.head, cursor.open, cursor.block_count, cursor.update_count) == (1, 0, 1, 0)
    genesis = coalition.ledger.block(1)
    assert genesis.state is BlockState.FINAL
    assert genesis.model_hash == b"\x11" * 32
    assert coalition.ledger.validators() == [v.address for v in coalition.validators]
    assert coalition.ledger.params().min_batch_size == MIN_BATCH


def test_a_full_round_finalizes_at_quorum_and_moves_the_head(coalition: Coalition) -> None:
    update = register(coalition)
    assert coalition.ledger.update(update).member == coalition.members[0].address
    block = propose(coalition, [update])
    assert coalition.ledger.block(block).state is BlockState.PENDING
    needed = threshold(len(coalition.validators))
    for i in range(needed - 1):
        vote(coalition, i, block, True)
        assert coalition.ledger.cursor().head == 1, "the head must not move before the quorum"
    round_before = coalition.ledger.current_round().number
    vote(coalition, needed - 1, block, True)
    info = coalition.ledger.block(block)
    assert info.state is BlockState.FINAL and info.accepts == needed and info.parent == 1
    assert coalition.ledger.cursor().head == block
    assert coalition.ledger.current_round().number == round_before + 1
    assert [v["accept"] for v in coalition.ledger.votes(block)] == [True] * needed


def test_rejection_as_soon_as_quorum_is_unreachable(coalition: Coalition) -> None:
    block = propose(coalition, [register(coalition)])
    vote(coalition, 0, block, False)
    assert coalition.ledger.block(block).state is BlockState.PENDING  # n=4: 1 reject leaves 3 possible
    vote(coalition, 1, block, False)
    assert coalition.ledger.block(block).state is BlockState.REJECTED
    assert coalition.ledger.cursor().head == 1
    with refused("BlockNotPending"):
        vote(coalition, 2, block, True)


@pytest.mark.parametrize(
    ("action", "error"),
    [
        ("register_by_outsider", "NotMember"),
        ("batch_too_small", "BatchTooSmall"),
        ("samples_below_batch", "BadSampleCount"),
        ("unknown_parent", "UnknownBlock"),
        ("propose_by_non_general", "NotGeneral"),
        ("propose_wrong_parent", "WrongParent"),
        ("propose_wrong_round", "WrongRound"),
        ("propose_unknown_update", "UnknownUpdate"),
        ("propose_no_updates", "NoUpdates"),
        ("vote_by_outsider", "NotValidator"),
        ("double_vote", "AlreadyVoted"),
        ("second_proposal", "CandidateAlreadyOpen"),
        ("grant_by_admin", "MembershipByVoteOnly"),
        ("bad_reveal", "BadReveal"),
    ],
)
def test_refusals_surface_as_named_errors(coalition: Coalition, action: str, error: str) -> None:
    c, ledger = coalition, coalition.ledger
    with refused(error):
        if action == "register_by_outsider":
            ledger.register_update(c.outsider, 1, b"\x01" * 32, ZERO, 64, 16)
        elif action == "batch_too_small":
            ledger.register_update(c.members[0], 1, b"\x01" * 32, ZERO, 64, MIN_BATCH - 1)
        elif action == "samples_below_batch":
            ledger.register_update(c.members[0], 1, b"\x01" * 32, ZERO, 10, 16)
        elif action == "unknown_parent":
            ledger.register_update(c.members[0], 7, b"\x01" * 32, ZERO, 64, 16)
        elif action == "propose_by_non_general":
            update = register(c)
            other = next(v for v in c.validators if v.address != ledger.current_round().general)
            ledger.propose(other, 1, b"\x44" * 32, ZERO, [update], ledger.current_round().number, ZERO)
        elif action == "propose_wrong_parent":
            ledger.propose(c.general(), 2, b"\x44" * 32, ZERO, [register(c)], ledger.current_round().number, ZERO)
        elif action == "propose_wrong_round":
            ledger.propose(c.general(), 1, b"\x44" * 32, ZERO, [register(c)], 9, ZERO)
        elif action == "propose_unknown_update":
            propose(c, [42])
        elif action == "propose_no_updates":
            propose(c, [])
        elif action == "vote_by_outsider":
            block = propose(c, [register(c)])
            ledger.vote(c.outsider, block, True, ZERO, ZERO, ZERO)
        elif action == "double_vote":
            block = propose(c, [register(c)])
            vote(c, 0, block, True)
            vote(c, 0, block, True)
        elif action == "second_proposal":
            update = register(c)
            propose(c, [update])
            propose(c, [update])
        elif action == "grant_by_admin":
            ledger.transact(c.operator, "grantRole", keccak(text="tclearn.member"), c.outsider.address)
        elif action == "bad_reveal":
            block = propose(c, [register(c)])
            for i in range(3):
                ledger.vote(c.validators[i], block, True, ZERO, ZERO, commitment(c.validators[i].address, b"\x07" * 32))
            ledger.vote(c.validators[0], propose(c, [register(c, tag=9)]), True, ZERO, b"\x08" * 32, ZERO)


def test_update_trained_on_another_block_is_refused(coalition: Coalition) -> None:
    stale = register(coalition)
    block = propose(coalition, [register(coalition, tag=3)])
    for i in range(3):
        vote(coalition, i, block, True)
    assert coalition.ledger.cursor().head == block
    with refused("UpdateNotOnParent"):
        propose(coalition, [stale])


def test_late_vote_is_refused_and_the_candidate_expires(coalition: Coalition) -> None:
    block = propose(coalition, [register(coalition)])
    vote(coalition, 0, block, True)
    with refused("VotingStillOpen"):
        coalition.ledger.expire(coalition.outsider, block)
    coalition.chain.advance_time(VOTE_TIMEOUT + 5)
    assert coalition.ledger.block(block).state is BlockState.EXPIRED  # as the view reports it
    with refused("VotingClosed"):
        vote(coalition, 1, block, True)
    round_before = coalition.ledger.current_round().number
    coalition.ledger.expire(coalition.outsider, block)
    assert coalition.ledger.cursor().open == 0
    assert coalition.ledger.current_round().number == round_before + 1
    assert coalition.ledger.cursor().head == 1


def test_silent_general_is_redrawn(coalition: Coalition) -> None:
    ledger = coalition.ledger
    with refused("ProposalWindowOpen"):
        ledger.redraw(coalition.outsider)
    coalition.chain.advance_time(PROPOSAL_TIMEOUT + 5)
    with refused("ProposalWindowClosed"):
        propose(coalition, [register(coalition)])
    before = ledger.current_round()
    ledger.redraw(coalition.outsider)
    after = ledger.current_round()
    assert (after.number, after.attempt) == (before.number, before.attempt + 1)
    expected = draw_index(ledger.seed(), after.number, after.attempt, len(coalition.validators))
    assert after.general == ledger.validators()[expected]


def test_every_general_is_the_one_the_draw_yields(coalition: Coalition) -> None:
    """Recomputes the seed from the reveals the validators sent and checks each draw."""
    ledger, chain = coalition.ledger, coalition.chain
    seed = genesis_seed(chain.chain_id, ledger.address, b"\x11" * 32)
    assert ledger.seed() == seed
    secrets = {v.address: None for v in coalition.validators}
    for round_tag in range(1, 4):
        general = ledger.current_round()
        index = draw_index(seed, general.number, general.attempt, len(coalition.validators))
        assert general.general == ledger.validators()[index]
        block = propose(coalition, [register(coalition, tag=round_tag * 10)])
        for validator in coalition.validators[:3]:
            reveal = secrets[validator.address] or b"\x00" * 32
            fresh = keccak(text=f"{validator.address}-{round_tag}")
            ledger.vote(validator, block, True, ZERO, reveal, commitment(validator.address, fresh))
            if secrets[validator.address]:
                seed = mix(seed, reveal)
            secrets[validator.address] = fresh
        assert ledger.seed() == seed
        assert ledger.cursor().head == block


def test_withheld_reveal_is_flagged_and_does_not_stall(coalition: Coalition) -> None:
    ledger = coalition.ledger
    first = propose(coalition, [register(coalition)])
    for i in range(3):
        ledger.vote(
            coalition.validators[i], first, True, ZERO, ZERO, commitment(coalition.validators[i].address, b"\x09" * 32)
        )
    second = propose(coalition, [register(coalition, tag=5)])
    receipt = ledger.vote(coalition.validators[0], second, True, ZERO, ZERO, ZERO)
    flagged = ledger.contract.events.RevealWithheld().process_receipt(receipt, errors=DISCARD)
    assert [e["args"]["validator"] for e in flagged] == [coalition.validators[0].address]
    for i in (1, 2):
        ledger.vote(coalition.validators[i], second, True, ZERO, b"\x09" * 32, ZERO)
    assert ledger.cursor().head == second


def test_membership_changes_by_two_thirds_of_validators(coalition: Coalition) -> None:
    ledger, vals = coalition.ledger, coalition.validators
    (newcomer,) = make_accounts(coalition.chain, 1)
    proposal = ledger.propose_membership(vals[0], newcomer.address, "validator", True)
    assert ledger.membership_state(proposal) is ProposalState.PENDING
    with refused("AlreadyVotedOnProposal"):
        ledger.vote_membership(vals[0], proposal, True)
    ledger.vote_membership(vals[1], proposal, True)
    assert not ledger.has_role("validator", newcomer.address)
    ledger.vote_membership(vals[2], proposal, True)  # 3 of 4 = ⌈8/3⌉
    assert ledger.membership_state(proposal) is ProposalState.EXECUTED
    assert ledger.has_role("validator", newcomer.address)
    assert ledger.validators()[-1] == newcomer.address

    removal = ledger.propose_membership(vals[0], coalition.members[0].address, "member", False)
    ledger.vote_membership(vals[1], removal, False)  # 5 validators, quorum 4: 1 nay leaves 4 possible
    assert ledger.membership_state(removal) is ProposalState.PENDING
    ledger.vote_membership(vals[2], removal, False)  # 2 nays leave 3 < 4
    assert ledger.membership_state(removal) is ProposalState.REJECTED
    assert ledger.has_role("member", coalition.members[0].address)


def test_validator_change_waits_for_the_open_candidate(coalition: Coalition) -> None:
    ledger, vals = coalition.ledger, coalition.validators
    (newcomer,) = make_accounts(coalition.chain, 1)
    proposal = ledger.propose_membership(vals[0], newcomer.address, "member", True)
    block = propose(coalition, [register(coalition)])
    with refused("ValidatorSetFrozen"):
        ledger.propose_membership(vals[0], newcomer.address, "validator", True)
    for i in (1, 2):
        ledger.vote_membership(vals[i], proposal, True)
    assert ledger.has_role("member", newcomer.address), "member changes are not frozen"
    for i in range(3):
        vote(coalition, i, block, True)
    assert ledger.cursor().head == block


def test_mode_c_needs_a_supervisor(chain) -> None:
    coalition = deploy_coalition(chain, mode="C")
    assert coalition.ledger.params().mode == "C"
    assert coalition.ledger.has_role("supervisor", coalition.operator.address)


def test_mode_c_records_read_back(chain) -> None:
    """Contexts, copies, decryption requests and answers: written by the roles allowed, read back
    from the events with what an auditor needs."""
    coalition = deploy_coalition(chain, mode="C")
    ledger, supervisor = coalition.ledger, coalition.operator
    member, validator = coalition.members[0], coalition.validators[0]
    for i, who in enumerate((member, validator)):
        ledger.issue_context(supervisor, who.address, bytes([i + 1]) * 32, bytes([i + 7]) * 32)
    assert ledger.context_of(member.address) == b"\x01" * 32
    assert [c.participant for c in ledger.contexts_issued()] == [member.address, validator.address]
    ledger.issue_copies(
        supervisor, 1, [(member.address, b"\xaa" * 32, b"\xbb" * 32), (validator.address, b"\xcc" * 32, b"\xdd" * 32)]
    )
    copies = ledger.copies_issued(blockId=1)
    assert [(c.participant, c.copy_hash, c.fingerprint) for c in copies] == [
        (member.address, b"\xaa" * 32, b"\x01" * 32),
        (validator.address, b"\xcc" * 32, b"\x02" * 32),
    ]
    assert ledger.copies_issued(participant=validator.address)[0].cid_digest == b"\xdd" * 32
    request = ledger.request_decryption(validator, "tclearn.vote", 1, b"\x42" * 32)
    assert ledger.decryption_requests()[0].answer is None
    with refused("NotSupervisor"):
        ledger.answer_decryption(validator, request, b"\x01" * 32, b"\x02" * 32)
    ledger.answer_decryption(supervisor, request, b"\x03" * 32, b"\x04" * 32)
    (asked,) = ledger.decryption_requests()
    assert (asked.requester, asked.purpose, asked.block) == (validator.address, keccak(text="tclearn.vote"), 1)
    assert asked.answer is not None and asked.answer.input_hash == b"\x03" * 32
    with refused("AlreadyAnswered"):
        ledger.answer_decryption(supervisor, request, b"\x03" * 32, b"\x04" * 32)
    with refused("NoContext"):
        ledger.issue_copies(supervisor, 1, [(coalition.members[1].address, b"\xaa" * 32, b"\xbb" * 32)])
