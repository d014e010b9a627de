// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {ICoalition} from "./ICoalition.sol";
import {ISupervision} from "./ISupervision.sol";

/// @title External interface of the TCLearn model ledger
/// @notice Every training step (`registerUpdate`), every candidate block (`propose`) and every
///         validator's vote (`vote`); a block is final at ⌈2n/3⌉ accepts of its n validators and
///         rejected as soon as that is out of reach. The ledger is also the coalition
///         (`ICoalition`), so a vote is one contract call.
interface IModelLedger is ICoalition, ISupervision {
    // ------------------------------------------------------------------ types

    /// @notice Lifecycle of a block. Genesis is `Final` from deployment; a candidate is `Pending`
    ///         until it is decided or its deadline passes.
    enum BlockState {
        None,
        Pending,
        Final,
        Rejected,
        Expired
    }

    /// @notice The ledger's fixed parameters, given at deployment.
    /// @dev `rulesDigest` is the SHA-256 digest of the CIDv0 of the coalition's rules document
    ///      (learning mode, aggregation rule, vote tolerance, screening, architecture, training
    ///      recipe), stored off chain; every node checks its own copy against it before it starts.
    struct Params {
        Mode mode;
        uint32 minBatchSize;
        uint32 proposalTimeout;
        uint32 voteTimeout;
        uint32 membershipTimeout;
        bytes32 rulesDigest;
    }

    /// @notice The genesis model, block 1: SHA-256 of its weights, their CIDv0 digest and the
    ///         digest of its metadata.
    struct Genesis {
        bytes32 modelHash;
        bytes32 cidDigest;
        bytes32 metadataHash;
    }

    /// @notice A block's stored fields, as `blockInfo` returns them.
    /// @dev Word 0 packs everything a vote reads and writes; `votedSeats` has bit (seat-1) set
    ///      for each validator that voted.
    struct Block {
        uint64 parent;
        uint128 votedSeats;
        uint8 accepts;
        uint8 rejects;
        uint8 electorate;
        BlockState state;
        uint32 deadline;
        bytes32 modelHash;
    }

    /// @notice A registered training step, as `updateInfo` returns it.
    struct Update {
        address member;
        uint64 parent;
        uint32 samples;
        bytes32 weightsHash;
    }

    // ------------------------------------------------------------------ events

    /// @notice Emitted once, at deployment: the ledger's fixed parameters, its rules document's
    ///         digest and the draw's first seed.
    /// @param minBatchSize the least batch size an update may be trained with
    /// @param proposalTimeout seconds a round's general has to propose
    /// @param voteTimeout seconds a candidate block stays open for votes
    /// @param rulesDigest the CIDv0 digest of the coalition's rules document
    /// @param seed the draw's seed of round 1, fixed by chain id, ledger address and genesis model
    event LedgerCreated(
        uint32 minBatchSize, uint32 proposalTimeout, uint32 voteTimeout, bytes32 rulesDigest, bytes32 seed
    );

    /// @notice Emitted once, at deployment, for block 1: the genesis model, final from the start.
    /// @param id the genesis block's number (always `GENESIS`)
    /// @param modelHash SHA-256 of the genesis model's weights
    /// @param cidDigest CIDv0 digest under which the weights are stored
    /// @param metadataHash digest of the genesis model's metadata
    event GenesisBlock(uint64 indexed id, bytes32 modelHash, bytes32 cidDigest, bytes32 metadataHash);

    /// @notice Emitted for every training step a member registers, whether or not a block ever
    ///         takes it in.
    /// @param id the update's number
    /// @param member the member that trained it
    /// @param parent the final block it was trained from
    /// @param weightsHash SHA-256 of the resulting weights (or update)
    /// @param cidDigest CIDv0 digest under which they are stored
    /// @param samples how many samples the step used
    /// @param batchSize the batch size it used (at least `minBatchSize`)
    event UpdateRegistered(
        uint64 indexed id,
        address indexed member,
        uint64 indexed parent,
        bytes32 weightsHash,
        bytes32 cidDigest,
        uint32 samples,
        uint32 batchSize
    );

    /// @notice Emitted when a round's general is drawn: at deployment (round 1), when a candidate
    ///         block closes (next round), and on a redraw (next attempt) after a silent general or
    ///         a general that left the validator set.
    /// @param round the round's number
    /// @param attempt the draw attempt within the round (0 first, +1 per redraw)
    /// @param general the validator drawn, the only one that may propose this round
    /// @param index its position in the validator list (seat - 1)
    /// @param seed the seed it was drawn from
    /// @param deadline the time after which a silent general may be replaced (`redraw`)
    event RoundOpened(
        uint32 indexed round, uint32 attempt, address indexed general, uint8 index, bytes32 seed, uint32 deadline
    );

    /// @notice Emitted when the round's general proposes a candidate block on the head.
    /// @param id the candidate block's number
    /// @param round the round it was proposed in
    /// @param general the proposer
    /// @param parent the head it extends
    /// @param modelHash SHA-256 of the aggregated model's weights
    /// @param cidDigest CIDv0 digest under which they are stored
    /// @param updateIds the registered updates it aggregates, strictly ascending
    /// @param metadataHash CIDv0 digest of the off-chain metadata (learning mode, aggregation rule,
    ///        parameters)
    /// @param electorate the number of validators that vote on it: ⌈2n/3⌉ accepts make it final
    /// @param deadline the time after which it can be expired
    event BlockProposed(
        uint64 indexed id,
        uint32 indexed round,
        address indexed general,
        uint64 parent,
        bytes32 modelHash,
        bytes32 cidDigest,
        uint64[] updateIds,
        bytes32 metadataHash,
        uint8 electorate,
        uint32 deadline
    );

    /// @notice Emitted for every counted vote on a candidate block, with the draw's commit–reveal
    ///         pair it carries, so that anyone can replay the seed.
    /// @param id the candidate block voted on
    /// @param validator the voter
    /// @param accept its verdict
    /// @param metrics the voter's measured metrics, packed by the off-chain vote policy
    /// @param reveal the secret behind the voter's previous commitment (zero if withheld or none)
    /// @param nextCommit the voter's commitment to a fresh secret, for its next vote
    event VoteCast(
        uint64 indexed id, address indexed validator, bool accept, bytes32 metrics, bytes32 reveal, bytes32 nextCommit
    );

    /// @notice Emitted when a validator that holds a commitment votes without revealing it (zero
    ///         `reveal`): withholding is its one lever on the draw, so it is flagged on chain.
    /// @param validator the voter that withheld
    /// @param round the round during which it withheld
    event RevealWithheld(address indexed validator, uint32 indexed round);

    /// @notice Emitted when a candidate block reaches ⌈2n/3⌉ accepts: it is final and the new
    ///         head, and the next round opens.
    /// @param id the block, now the head
    /// @param parent the former head
    /// @param accepts accepts counted, the finalizing one included
    /// @param rejects rejects counted
    event BlockFinalized(uint64 indexed id, uint64 indexed parent, uint8 accepts, uint8 rejects);

    /// @notice Emitted when so many validators reject a candidate block that ⌈2n/3⌉ accepts are
    ///         out of reach; the head stays, and the next round opens.
    /// @param id the rejected block
    /// @param accepts accepts counted
    /// @param rejects rejects counted, the deciding one included
    event BlockRejected(uint64 indexed id, uint8 accepts, uint8 rejects);

    /// @notice Emitted when a candidate block undecided at its deadline is closed (`expire`); the
    ///         head stays, and the next round opens.
    /// @param id the expired block
    /// @param accepts accepts counted
    /// @param rejects rejects counted
    event BlockExpired(uint64 indexed id, uint8 accepts, uint8 rejects);

    /// @notice Emitted when a general lets the proposal deadline pass without proposing and is
    ///         replaced (`redraw`); a `RoundOpened` for the next attempt follows.
    /// @param round the round
    /// @param attempt the attempt that timed out
    /// @param general the silent general
    event GeneralTimedOut(uint32 indexed round, uint32 attempt, address indexed general);

    // ------------------------------------------------------------------ errors

    /// @notice Reverts when an account without the member role registers an update.
    /// @param account the caller
    error NotMember(address account);

    /// @notice Reverts when an update was trained with a batch smaller than `minBatchSize`, the
    ///         coalition's privacy floor: no training step computed from fewer samples.
    /// @param batchSize the batch size given
    /// @param minBatchSize the coalition's least batch size
    error BatchTooSmall(uint32 batchSize, uint32 minBatchSize);

    /// @notice Reverts when an update claims fewer samples than one batch.
    /// @param samples the sample count given
    /// @param batchSize the batch size given
    error BadSampleCount(uint32 samples, uint32 batchSize);

    /// @notice Reverts when a hash that must identify something is zero: the genesis model's, an
    ///         update's weights' or a candidate block's model's.
    error EmptyHash();

    /// @notice Reverts when an update names as its parent a block that is not final (or does not
    ///         exist): training starts only from final blocks.
    /// @param id the block given
    error UnknownBlock(uint64 id);

    /// @notice Reverts when anyone but the round's drawn general proposes.
    /// @param caller the caller
    /// @param general the round's general
    error NotGeneral(address caller, address general);

    /// @notice Reverts when a proposal names another round than the current one, so that a
    ///         proposal made for a past round cannot land in a later one.
    /// @param given the round given
    /// @param current the current round
    error WrongRound(uint32 given, uint32 current);

    /// @notice Reverts when a block is proposed, or the general redrawn, while a candidate block
    ///         is still open: one candidate at a time.
    /// @param open the open candidate
    error CandidateAlreadyOpen(uint64 open);

    /// @notice Reverts when the general proposes after the round's proposal deadline.
    /// @param round the current round
    /// @param deadline its proposal deadline
    error ProposalWindowClosed(uint32 round, uint32 deadline);

    /// @notice Reverts when a redraw is asked before the general's proposal deadline has passed.
    /// @param round the current round
    /// @param deadline its proposal deadline
    error ProposalWindowOpen(uint32 round, uint32 deadline);

    /// @notice Reverts when a candidate block does not extend the head.
    /// @param given the parent given
    /// @param head the current head
    error WrongParent(uint64 given, uint64 head);

    /// @notice Reverts when a candidate block references no update.
    error NoUpdates();

    /// @notice Reverts when a candidate block's update ids are not strictly ascending (which also
    ///         rules out counting one update twice).
    /// @param id the first id out of order
    error UpdatesNotAscending(uint64 id);

    /// @notice Reverts when a candidate block references an update that was never registered.
    /// @param id the unknown update
    error UnknownUpdate(uint64 id);

    /// @notice Reverts when a candidate block references an update trained on another block than
    ///         the one it extends.
    /// @param id the update
    /// @param updateParent the block it was trained on
    /// @param parent the block the candidate extends
    error UpdateNotOnParent(uint64 id, uint64 updateParent, uint64 parent);

    /// @notice Reverts when a vote is cast on, or `expire` called for, a block that is not a
    ///         pending candidate (unknown, final, rejected or expired).
    /// @param id the block
    /// @param state its stored state
    error BlockNotPending(uint64 id, BlockState state);

    /// @notice Reverts when a vote comes after the candidate block's deadline.
    /// @param id the block
    /// @param deadline its voting deadline
    error VotingClosed(uint64 id, uint32 deadline);

    /// @notice Reverts when `expire` is called before the candidate block's deadline has passed.
    /// @param id the block
    /// @param deadline its voting deadline
    error VotingStillOpen(uint64 id, uint32 deadline);

    /// @notice Reverts when a validator votes twice on the same block.
    /// @param id the block
    /// @param validator the caller, who already voted
    error AlreadyVoted(uint64 id, address validator);

    /// @notice Reverts when a vote's non-zero `reveal` does not open the caller's commitment (or
    ///         the caller has none): only a committed secret may move the seed.
    /// @param validator the caller
    error BadReveal(address validator);

    // ------------------------------------------------------------------ train → register

    /// @notice Records one training step of the caller: the block it trained from, the SHA-256 of
    ///         the resulting weights (or update), the CIDv0 digest under which they are stored,
    ///         how many samples it used and with which batch size (at least `minBatchSize`).
    ///         Not in mode C, whose updates are masked (`ISupervision.registerMaskedUpdate`).
    /// @return id the update's number, which a candidate block references
    function registerUpdate(uint64 parent, bytes32 weightsHash, bytes32 cidDigest, uint32 samples, uint32 batchSize)
        external
        returns (uint64 id);

    // ------------------------------------------------------------------ propose

    /// @notice The round's general proposes the candidate block that extends the head with
    ///         `updateIds` (strictly ascending, each trained on the head).
    /// @param metadataHash CIDv0 digest of the off-chain metadata (learning mode, aggregation rule,
    ///        parameters): a hash of it that also says where to fetch it
    /// @return id the candidate block's number
    function propose(
        uint64 parent,
        bytes32 modelHash,
        bytes32 cidDigest,
        uint64[] calldata updateIds,
        uint32 round,
        bytes32 metadataHash
    ) external returns (uint64 id);

    // ------------------------------------------------------------------ validate → vote

    /// @notice A validator's signed verdict on candidate `id`, with its measured `metrics`.
    /// @param reveal the secret behind the caller's previous commitment (zero withholds it, which
    ///        is flagged; zero is also what a validator without a commitment passes)
    /// @param nextCommit `keccak256(abi.encode(caller, secret))` of a fresh secret for its next vote
    function vote(uint64 id, bool accept, bytes32 metrics, bytes32 reveal, bytes32 nextCommit) external;

    // ------------------------------------------------------------------ timeouts

    /// @notice Closes candidate `id` once its voting deadline has passed without a decision, and
    ///         opens the next round. Anyone may call it.
    function expire(uint64 id) external;

    /// @notice Replaces a general that let the proposal deadline pass without proposing.
    ///         Anyone may call it.
    function redraw() external;

    // ------------------------------------------------------------------ parameters

    /// @notice Number of the genesis block.
    // slither-disable-next-line naming-convention -- the getter of the public constant GENESIS
    function GENESIS() external view returns (uint64);

    /// @notice The least batch size an update may be trained with.
    function minBatchSize() external view returns (uint32);

    /// @notice Seconds a round's general has to propose before it may be replaced.
    function proposalTimeout() external view returns (uint32);

    /// @notice Seconds a candidate block stays open for votes.
    function voteTimeout() external view returns (uint32);

    /// @notice The CIDv0 digest of the coalition's rules document, fixed at deployment.
    function rulesDigest() external view returns (bytes32);

    // ------------------------------------------------------------------ views

    /// @notice The head (last final block), the open candidate (0 if none), counts of blocks
    ///         and updates.
    function cursor() external view returns (uint64 head, uint64 open, uint64 blockCount, uint64 updateCount);

    /// @notice The current round: its number, draw attempt, general and proposal deadline.
    function currentRound() external view returns (uint32 number, uint32 attempt, address general, uint32 deadline);

    /// @notice The running draw seed (every valid reveal so far folded in).
    function seed() external view returns (bytes32);

    /// @notice A block's stored fields; `state` reports a pending block past its deadline as
    ///         `Expired` even before someone calls `expire`.
    function blockInfo(uint64 id) external view returns (Block memory b);

    /// @notice Whether `validator` has voted on block `id`.
    /// @dev Reads the validator's *current* seat: exact for the open block (the set is frozen
    ///      while it is open) and for blocks closed since the last change of the validator set;
    ///      for older blocks a seat may have changed hands (swap-and-pop), so replay `VoteCast`
    ///      events for history.
    function hasVoted(uint64 id, address validator) external view returns (bool);

    /// @notice A registered update's stored fields.
    function updateInfo(uint64 id) external view returns (Update memory);
}
