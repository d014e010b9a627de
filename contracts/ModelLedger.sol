// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Coalition} from "./Coalition.sol";
import {IModelLedger} from "./interfaces/IModelLedger.sol";
import {GeneralDraw} from "./libraries/GeneralDraw.sol";
import {Quorum} from "./libraries/Quorum.sol";
import {ISupervision} from "./interfaces/ISupervision.sol";
import {Supervision} from "./Supervision.sol";

/// @title TCLearn model ledger: every training step, every candidate block, every vote
/// @notice Members register each training step (`registerUpdate`). Each round a general drawn at
///         random among the validators proposes one candidate block built from updates trained on
///         the head (`propose`). Validators vote (`vote`); the block becomes final, and the new
///         head, at ⌈2n/3⌉ accepts of its n validators, and is rejected as soon as that is out of
///         reach. A candidate not decided by its deadline expires (`expire`); a general silent past
///         the proposal deadline is replaced (`redraw`). The head only ever moves to a final block
///         whose parent was the head, so the lineage from head to genesis is a chain of final
///         blocks. Storage holds what is checked on chain; events carry what an auditor needs.
///
/// @dev Threat model of the general draw (commit–reveal piggybacked on votes, no extra
///      transaction). Each vote carries `reveal`, the secret behind the voter's previous
///      commitment, and `nextCommit`, a commitment to a fresh secret. Valid reveals are folded into
///      `seed`; when a round closes, the next general is `validators[keccak(seed, round, attempt) % n]`.
///      - Anyone can recompute every draw from events (see GeneralDraw).
///      - No single validator can choose the outcome: a secret is committed before the seed it
///        will be mixed into is known, and other validators' reveals are mixed in too. Its only
///        leverage is to withhold its own reveal (or not vote), a choice between two outcomes, and
///        a withheld reveal is flagged on chain (`RevealWithheld`) without stalling anything.
///      - The validator whose vote closes a round sees the reveals before it; this last-revealer
///        bias (one bit) is the known limit of commit–reveal without a VDF or threshold beacon.
///      - Round 1's general follows from the deployment itself (chain id, address, genesis model).
///      - A silent general is replaced after `proposalTimeout` by a deterministic redraw (next
///        attempt), so silence never improves a validator's own chances.
///      - Members cannot influence the draw; the general cannot influence the next one other
///        than as any voter can.
///      Types, events and errors are declared, and documented, once in `IModelLedger`.
contract ModelLedger is IModelLedger, Supervision {
    struct Round {
        address general;
        uint32 number;
        uint32 attempt;
        uint32 deadline;
    }

    /// @dev Block and update counters, the head and the open candidate, in one word.
    struct Cursor {
        uint64 head;
        uint64 open;
        uint64 blockCount;
        uint64 updateCount;
    }

    /// @inheritdoc IModelLedger
    uint64 public constant GENESIS = 1;

    /// @inheritdoc IModelLedger
    uint32 public immutable minBatchSize;
    /// @inheritdoc IModelLedger
    uint32 public immutable proposalTimeout;
    /// @inheritdoc IModelLedger
    uint32 public immutable voteTimeout;
    /// @inheritdoc IModelLedger
    bytes32 public immutable rulesDigest;

    Cursor private _cursor;
    Round private _round;
    bytes32 private _seed;
    mapping(uint64 id => Block) private _blocks;
    mapping(uint64 id => Update) private _updates;
    /// @dev Mode C: the round and attempt whose roster was closed last (number << 32 | attempt).
    uint64 private _closedRoster;

    constructor(
        Params memory params,
        Genesis memory genesis,
        address[] memory initialMembers,
        address[] memory initialValidators,
        address[] memory initialSupervisors,
        address[] memory initialAuditors
    )
        Coalition(
            params.mode,
            params.membershipTimeout,
            initialMembers,
            initialValidators,
            initialSupervisors,
            initialAuditors
        )
    {
        if (genesis.modelHash == bytes32(0)) revert EmptyHash();
        minBatchSize = params.minBatchSize;
        proposalTimeout = params.proposalTimeout;
        voteTimeout = params.voteTimeout;
        rulesDigest = params.rulesDigest;
        _seed = GeneralDraw.genesisSeed(block.chainid, address(this), genesis.modelHash);
        emit LedgerCreated(params.minBatchSize, params.proposalTimeout, params.voteTimeout, params.rulesDigest, _seed);

        _blocks[GENESIS] = Block({
            parent: 0,
            votedSeats: 0,
            accepts: 0,
            rejects: 0,
            electorate: 0,
            state: BlockState.Final,
            deadline: 0,
            modelHash: genesis.modelHash
        });
        _cursor = Cursor({head: GENESIS, open: 0, blockCount: GENESIS, updateCount: 0});
        emit GenesisBlock(GENESIS, genesis.modelHash, genesis.cidDigest, genesis.metadataHash);
        _openRound(1, 0);
    }

    // ------------------------------------------------------------------ train → register

    /// @inheritdoc IModelLedger
    function registerUpdate(uint64 parent, bytes32 weightsHash, bytes32 cidDigest, uint32 samples, uint32 batchSize)
        external
        returns (uint64 id)
    {
        if (mode == Mode.C) revert MaskedUpdatesOnly();
        id = _register(parent, weightsHash, cidDigest, samples, batchSize);
    }

    /// @inheritdoc ISupervision
    function registerMaskedUpdate(
        uint64 parent,
        uint32 round,
        uint32 attempt,
        bytes32 weightsHash,
        bytes32 cidDigest,
        uint32 samples,
        uint32 batchSize
    ) external returns (uint64 id) {
        if (mode != Mode.C) revert NotModeC();
        Round memory r = _round;
        // slither-disable-next-line timestamp -- round numbers, not the round's deadline
        if (round != r.number || attempt != r.attempt) revert WrongAttempt(round, attempt, r.number, r.attempt);
        // slither-disable-next-line incorrect-equality,timestamp -- a key compared, no balance nor time
        if (_closedRoster == _rosterKey(r)) revert RosterIsClosed(round, attempt);
        uint64 head = _cursor.head;
        if (parent != head) revert WrongParent(parent, head);
        id = _register(parent, weightsHash, cidDigest, samples, batchSize);
        emit UpdateMasked(id, msg.sender, round, attempt);
    }

    /// @inheritdoc ISupervision
    function closeRoster() external {
        if (mode != Mode.C) revert NotModeC();
        Round memory r = _round;
        // slither-disable-next-line timestamp -- an address comparison, not a time comparison
        if (msg.sender != r.general) revert NotGeneral(msg.sender, r.general);
        uint64 key = _rosterKey(r);
        // slither-disable-next-line incorrect-equality,timestamp -- a key compared, no balance nor time
        if (_closedRoster == key) revert RosterIsClosed(r.number, r.attempt);
        _closedRoster = key;
        emit RosterClosed(r.number, r.attempt, _cursor.head, msg.sender);
    }

    /// @inheritdoc ISupervision
    function closedRoster() external view returns (uint32 round, uint32 attempt) {
        uint64 key = _closedRoster;
        // casting to 'uint32' is safe because the key is two uint32 halves (`_rosterKey`)
        // forge-lint: disable-next-line(unsafe-typecast)
        return (uint32(key >> 32), uint32(key));
    }

    function _register(uint64 parent, bytes32 weightsHash, bytes32 cidDigest, uint32 samples, uint32 batchSize)
        private
        returns (uint64 id)
    {
        if (!hasRole(MEMBER_ROLE, msg.sender)) revert NotMember(msg.sender);
        if (batchSize < minBatchSize) revert BatchTooSmall(batchSize, minBatchSize);
        if (samples < batchSize) revert BadSampleCount(samples, batchSize);
        if (weightsHash == bytes32(0)) revert EmptyHash();
        if (_blocks[parent].state != BlockState.Final) revert UnknownBlock(parent);
        id = ++_cursor.updateCount;
        _updates[id] = Update({member: msg.sender, parent: parent, samples: samples, weightsHash: weightsHash});
        emit UpdateRegistered(id, msg.sender, parent, weightsHash, cidDigest, samples, batchSize);
    }

    function _rosterKey(Round memory r) private pure returns (uint64) {
        return (uint64(r.number) << 32) | r.attempt;
    }

    // ------------------------------------------------------------------ propose

    /// @inheritdoc IModelLedger
    function propose(
        uint64 parent,
        bytes32 modelHash,
        bytes32 cidDigest,
        uint64[] calldata updateIds,
        uint32 round,
        bytes32 metadataHash
    ) external returns (uint64 id) {
        Round memory r = _round;
        if (msg.sender != r.general) revert NotGeneral(msg.sender, r.general);
        if (round != r.number) revert WrongRound(round, r.number);
        Cursor memory c = _cursor;
        if (c.open != 0) revert CandidateAlreadyOpen(c.open);
        // slither-disable-next-line timestamp -- deadlines are minutes long; miner drift is seconds
        if (block.timestamp > r.deadline) revert ProposalWindowClosed(r.number, r.deadline);
        if (parent != c.head) revert WrongParent(parent, c.head);
        if (modelHash == bytes32(0)) revert EmptyHash();
        _checkUpdates(updateIds, parent);

        id = ++c.blockCount;
        c.open = id;
        _cursor = c;
        uint8 electorate = uint8(_validators.length);
        uint32 deadline = uint32(block.timestamp) + voteTimeout;
        _blocks[id] = Block({
            parent: parent,
            votedSeats: 0,
            accepts: 0,
            rejects: 0,
            electorate: electorate,
            state: BlockState.Pending,
            deadline: deadline,
            modelHash: modelHash
        });
        emit BlockProposed(
            id, r.number, msg.sender, parent, modelHash, cidDigest, updateIds, metadataHash, electorate, deadline
        );
    }

    // ------------------------------------------------------------------ validate → vote

    /// @inheritdoc IModelLedger
    function vote(uint64 id, bool accept, bytes32 metrics, bytes32 reveal, bytes32 nextCommit) external {
        Seat memory seat = _seats[msg.sender];
        if (seat.number == 0) revert NotValidator(msg.sender);
        Block storage b = _blocks[id];
        if (b.state != BlockState.Pending) revert BlockNotPending(id, b.state);
        // slither-disable-next-line timestamp -- deadlines are minutes long; miner drift is seconds
        if (block.timestamp > b.deadline) revert VotingClosed(id, b.deadline);
        uint128 bit = uint128(1) << (seat.number - 1);
        if (b.votedSeats & bit != 0) revert AlreadyVoted(id, msg.sender);
        b.votedSeats |= bit;

        _takeReveal(seat.commitment, reveal);
        _seats[msg.sender].commitment = bytes31(nextCommit);
        emit VoteCast(id, msg.sender, accept, metrics, reveal, nextCommit);

        (uint8 accepts, uint8 rejects, Quorum.Outcome outcome) =
            Quorum.count(b.electorate, b.accepts, b.rejects, accept);
        (b.accepts, b.rejects) = (accepts, rejects);
        if (outcome == Quorum.Outcome.Passed) _finalize(id, b);
        else if (outcome == Quorum.Outcome.Failed) _close(id, b, BlockState.Rejected);
    }

    // ------------------------------------------------------------------ timeouts

    /// @inheritdoc IModelLedger
    function expire(uint64 id) external {
        Block storage b = _blocks[id];
        if (b.state != BlockState.Pending) revert BlockNotPending(id, b.state);
        // slither-disable-next-line timestamp -- deadlines are minutes long; miner drift is seconds
        if (block.timestamp <= b.deadline) revert VotingStillOpen(id, b.deadline);
        _close(id, b, BlockState.Expired);
    }

    /// @inheritdoc IModelLedger
    function redraw() external {
        Round memory r = _round;
        if (_cursor.open != 0) revert CandidateAlreadyOpen(_cursor.open);
        // slither-disable-next-line timestamp -- deadlines are minutes long; miner drift is seconds
        if (block.timestamp <= r.deadline) revert ProposalWindowOpen(r.number, r.deadline);
        emit GeneralTimedOut(r.number, r.attempt, r.general);
        _openRound(r.number, r.attempt + 1);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IModelLedger
    function cursor() external view returns (uint64 head, uint64 open, uint64 blockCount, uint64 updateCount) {
        Cursor memory c = _cursor;
        return (c.head, c.open, c.blockCount, c.updateCount);
    }

    /// @inheritdoc IModelLedger
    function currentRound() external view returns (uint32 number, uint32 attempt, address general, uint32 deadline) {
        Round memory r = _round;
        return (r.number, r.attempt, r.general, r.deadline);
    }

    /// @inheritdoc IModelLedger
    function seed() external view returns (bytes32) {
        return _seed;
    }

    /// @inheritdoc IModelLedger
    function blockInfo(uint64 id) external view returns (Block memory b) {
        b = _blocks[id];
        if (b.state != BlockState.Pending) return b;
        // slither-disable-next-line timestamp -- deadlines are minutes long; miner drift is seconds
        if (block.timestamp > b.deadline) b.state = BlockState.Expired;
    }

    /// @inheritdoc IModelLedger
    function hasVoted(uint64 id, address validator) external view returns (bool) {
        uint8 number = _seats[validator].number;
        // slither-disable-next-line timestamp -- a bitmask test, not a time comparison
        return number != 0 && _blocks[id].votedSeats & (uint128(1) << (number - 1)) != 0;
    }

    /// @inheritdoc IModelLedger
    function updateInfo(uint64 id) external view returns (Update memory) {
        return _updates[id];
    }

    // ------------------------------------------------------------------ internals

    function _checkUpdates(uint64[] calldata updateIds, uint64 parent) private view {
        if (updateIds.length == 0) revert NoUpdates();
        uint64 previous = 0;
        for (uint256 i = 0; i < updateIds.length; ++i) {
            uint64 uid = updateIds[i];
            if (uid <= previous) revert UpdatesNotAscending(uid);
            previous = uid;
            Update storage u = _updates[uid];
            if (u.member == address(0)) revert UnknownUpdate(uid);
            if (u.parent != parent) revert UpdateNotOnParent(uid, u.parent, parent);
        }
    }

    function _takeReveal(bytes31 commitment, bytes32 reveal) private {
        if (reveal == bytes32(0)) {
            if (commitment != bytes31(0)) emit RevealWithheld(msg.sender, _round.number);
            return;
        }
        if (commitment == bytes31(0) || bytes31(GeneralDraw.commitment(msg.sender, reveal)) != commitment) {
            revert BadReveal(msg.sender);
        }
        _seed = GeneralDraw.mix(_seed, reveal);
    }

    function _finalize(uint64 id, Block storage b) private {
        b.state = BlockState.Final;
        _cursor.head = id;
        _cursor.open = 0;
        emit BlockFinalized(id, b.parent, b.accepts, b.rejects);
        _openRound(_round.number + 1, 0);
    }

    function _close(uint64 id, Block storage b, BlockState state) private {
        b.state = state;
        _cursor.open = 0;
        if (state == BlockState.Rejected) emit BlockRejected(id, b.accepts, b.rejects);
        else emit BlockExpired(id, b.accepts, b.rejects);
        _openRound(_round.number + 1, 0);
    }

    function _openRound(uint32 number, uint32 attempt) private {
        bytes32 s = _seed;
        uint256 index = GeneralDraw.index(s, number, attempt, _validators.length);
        address general = _validators[index];
        uint32 deadline = uint32(block.timestamp) + proposalTimeout;
        _round = Round({general: general, number: number, attempt: attempt, deadline: deadline});
        emit RoundOpened(number, attempt, general, uint8(index), s, deadline);
    }

    function _blockExists(uint64 blockId) internal view override returns (bool) {
        return blockId != 0 && blockId <= _cursor.blockCount;
    }

    function _candidateOpen() internal view override returns (bool) {
        return _cursor.open != 0;
    }

    function _afterValidatorRemoved(address validator) internal override {
        Round memory r = _round;
        // slither-disable-next-line timestamp -- an address comparison, not a time comparison
        if (r.general == validator) _openRound(r.number, r.attempt + 1);
    }
}
