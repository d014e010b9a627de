// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

/// @title External interface of the TCLearn coalition
/// @notice Who takes part, in which role, with which keys; every change of role after genesis is
///         decided by ⌈2n/3⌉ of the n validators (`proposeMembership`, `voteMembership`). Roles are
///         read through `IAccessControl` (`hasRole`); its `grantRole` and `revokeRole` always
///         revert with `MembershipByVoteOnly`.
interface ICoalition is IAccessControl {
    // ------------------------------------------------------------------ types

    /// @notice TCLearn-A (public model), -B (private model, trusting members), -C (homomorphic).
    enum Mode {
        A,
        B,
        C
    }

    /// @notice Lifecycle of a membership proposal. `Approved` means the vote passed but a validator
    ///         change waits for the open candidate block to close before it takes effect.
    ///         `Expired` and `Stale` are never stored nor emitted: `membershipState` derives them
    ///         from the deadline and the validator set version.
    enum ProposalState {
        None,
        Pending,
        Approved,
        Executed,
        Rejected,
        Expired,
        Stale
    }

    /// @notice A membership proposal: grant (or revoke) `role` to `account`, decided by the
    ///         `electorate` validators that existed at proposal time (set version `setVersion`),
    ///         before `deadline`.
    struct MembershipProposal {
        address account;
        bool grant;
        uint8 electorate;
        uint8 ayes;
        uint8 nays;
        ProposalState state;
        uint32 deadline;
        uint32 setVersion;
        bytes32 role;
    }

    // ------------------------------------------------------------------ events

    /// @notice Emitted once, at deployment, with the coalition's fixed settings.
    /// @param mode the learning mode (A, B or C), fixed for the coalition's life
    /// @param membershipTimeout seconds a membership proposal stays open
    event CoalitionCreated(Mode mode, uint32 membershipTimeout);

    /// @notice Emitted when an account becomes a validator (at deployment or by an executed vote);
    ///         it takes the next free seat, the last one. With `ValidatorUnseated`, this lets
    ///         anyone replay the seat list that the general draw indexes.
    /// @param validator the new validator
    /// @param seat its seat number (1-based), which is also the validator count after it
    /// @param setVersion the validator set version after the change
    event ValidatorSeated(address indexed validator, uint8 seat, uint32 setVersion);

    /// @notice Emitted when a validator leaves the set (by an executed vote or by renouncing);
    ///         the last seat's holder moves into the freed seat, so seats stay 1..n.
    /// @param validator the validator that left
    /// @param seat the seat it held
    /// @param moved the validator moved into the freed seat (the former last seat), or zero
    /// @param setVersion the validator set version after the change
    event ValidatorUnseated(address indexed validator, uint8 seat, address moved, uint32 setVersion);

    /// @notice Emitted when a validator opens a membership vote; the proposer's own support
    ///         follows at once as a `MembershipVoted`.
    /// @param id the proposal's number
    /// @param proposer the validator that proposed it
    /// @param account the account whose role would change
    /// @param role the role to grant or revoke
    /// @param grant true to grant `role`, false to revoke it
    /// @param electorate the number of validators that decide it: ⌈2n/3⌉ of them must support it
    /// @param deadline the time after which the proposal is `Expired`
    /// @param setVersion the validator set version it was made under; once the set changes it is
    ///        `Stale`
    event MembershipProposed(
        uint256 indexed id,
        address indexed proposer,
        address indexed account,
        bytes32 role,
        bool grant,
        uint8 electorate,
        uint32 deadline,
        uint32 setVersion
    );

    /// @notice Emitted for every counted membership vote, the proposer's included.
    /// @param id the proposal voted on
    /// @param validator the voter
    /// @param support true for aye, false for nay
    event MembershipVoted(uint256 indexed id, address indexed validator, bool support);

    /// @notice Emitted when a proposal's stored state changes: `Approved` (passed, waiting for the
    ///         open candidate block to close), `Executed` (the role changed) or `Rejected` (⌈2n/3⌉
    ///         ayes became out of reach).
    /// @param id the proposal decided
    /// @param state its new state
    event MembershipDecided(uint256 indexed id, ProposalState state);

    /// @notice Emitted when a participant publishes the fingerprint of one of its public keys;
    ///         the full key is too large to store, so only the event says where to fetch it.
    /// @param account the key's owner
    /// @param purpose what the key is for (keccak256("x25519") for mode B, keccak256("ckks") for C)
    /// @param fingerprint the key's fingerprint (e.g. SHA-256), which the fetched key must match
    /// @param uri where the full key can be fetched (e.g. an IPFS CID)
    event KeyRegistered(address indexed account, bytes32 indexed purpose, bytes32 fingerprint, string uri);

    // ------------------------------------------------------------------ errors

    /// @notice Reverts when an account without a validator seat calls a validator's function
    ///         (a block vote, a membership proposal or vote).
    /// @param account the caller
    error NotValidator(address account);

    /// @notice Reverts when an account that holds none of the four roles registers a key.
    /// @param account the caller
    error NotParticipant(address account);

    /// @notice Reverts when a membership proposal names a role other than member, validator,
    ///         supervisor or auditor.
    /// @param role the role given
    error UnknownRole(bytes32 role);

    /// @notice Reverts on every `grantRole` and `revokeRole`: roles change only by a validators'
    ///         vote, never by one key.
    error MembershipByVoteOnly();

    /// @notice Reverts when a grant is proposed or executed for a role the account already holds.
    /// @param account the account named by the proposal
    /// @param role the role it already holds
    error RoleAlreadyHeld(address account, bytes32 role);

    /// @notice Reverts when a revocation is proposed or executed for a role the account does not
    ///         hold.
    /// @param account the account named by the proposal
    /// @param role the role it does not hold
    error RoleNotHeld(address account, bytes32 role);

    /// @notice Reverts when the last validator would leave (by vote or by renouncing), or when the
    ///         coalition is deployed without any validator: nobody could then vote.
    /// @param account the validator that would leave (zero at deployment)
    error LastValidator(address account);

    /// @notice Reverts when a new validator would exceed `MAX_VALIDATORS` (a vote records its
    ///         voter in a 128-bit word).
    /// @param max the upper bound of the validator set
    error TooManyValidators(uint256 max);

    /// @notice Reverts when the validator set would change (proposal, execution or renouncement)
    ///         while a candidate block is open: the set that votes on a block must not move under it.
    error ValidatorSetFrozen();

    /// @notice Reverts when a vote is cast on a membership proposal that is not `Pending`
    ///         (unknown, decided, expired or stale).
    /// @param id the proposal
    /// @param state its current state, as `membershipState` reports it
    error ProposalNotPending(uint256 id, ProposalState state);

    /// @notice Reverts when `executeMembership` is called on a proposal that is not `Approved`.
    /// @param id the proposal
    /// @param state its current state, as `membershipState` reports it
    error ProposalNotApproved(uint256 id, ProposalState state);

    /// @notice Reverts when a validator votes twice on the same membership proposal.
    /// @param id the proposal
    /// @param validator the caller, who already voted
    error AlreadyVotedOnProposal(uint256 id, address validator);

    /// @notice Reverts when a mode C (homomorphic) coalition is deployed without a supervisor,
    ///         which that mode requires.
    error MissingSupervisor();

    /// @notice Reverts when the zero address is seated at deployment or named by a membership
    ///         proposal.
    error ZeroAddress();

    // ------------------------------------------------------------------ membership by vote

    /// @notice Opens a vote on granting or revoking `role` for `account`; the proposer's own
    ///         support is counted at once. Only a validator may call it.
    /// @return id the proposal's number
    function proposeMembership(address account, bytes32 role, bool grant) external returns (uint256 id);

    /// @notice Votes on a pending membership proposal; it is decided as soon as ⌈2n/3⌉ of the n
    ///         validators that existed at its proposal support it, or that can no longer happen.
    ///         Only a validator may call it.
    function voteMembership(uint256 id, bool support) external;

    /// @notice Carries out an approved validator change that had to wait for an open candidate
    ///         block to close. Anyone may call it.
    function executeMembership(uint256 id) external;

    /// @notice State of a membership proposal, with expiry and staleness applied.
    function membershipState(uint256 id) external view returns (ProposalState);

    /// @notice A membership proposal's stored fields (its state as `membershipState` reports it).
    function membershipProposal(uint256 id) external view returns (MembershipProposal memory p);

    /// @notice Whether `validator` has voted on membership proposal `id`.
    function hasVotedOnMembership(uint256 id, address validator) external view returns (bool);

    /// @notice Number of membership proposals made so far (the last proposal's id).
    function membershipProposalCount() external view returns (uint256);

    // ------------------------------------------------------------------ keys

    /// @notice Publishes the fingerprint of the caller's public key for `purpose`, and where the
    ///         full key can be fetched (`uri`, e.g. an IPFS CID: a CKKS context is megabytes).
    function registerKey(bytes32 purpose, bytes32 fingerprint, string calldata uri) external;

    /// @notice Fingerprint (e.g. SHA-256) of each participant's public key, by purpose
    ///         (keccak256("x25519") for mode B envelopes, keccak256("ckks") for mode C contexts).
    function keyFingerprint(address account, bytes32 purpose) external view returns (bytes32 fingerprint);

    // ------------------------------------------------------------------ roles and settings

    // The getters of the contract's public constants keep the constants' names.
    // slither-disable-start naming-convention

    /// @notice The role of members, who register training steps.
    function MEMBER_ROLE() external view returns (bytes32);

    /// @notice The role of validators, who vote on blocks and on membership; each round's general is one.
    function VALIDATOR_ROLE() external view returns (bytes32);

    /// @notice The role of supervisors; a mode C coalition cannot be deployed without one.
    function SUPERVISOR_ROLE() external view returns (bytes32);

    /// @notice The role of auditors, participants that take no part in training or votes.
    function AUDITOR_ROLE() external view returns (bytes32);

    /// @notice Upper bound of the validator set: a vote records its voter in a 128-bit word.
    function MAX_VALIDATORS() external view returns (uint256);

    // slither-disable-end naming-convention

    /// @notice The coalition's learning mode, fixed at deployment.
    function mode() external view returns (Mode);

    /// @notice Seconds a membership proposal stays open.
    function membershipTimeout() external view returns (uint32);

    /// @notice Bumped at every change of the validator set; a membership proposal made under an
    ///         older set can no longer pass (it is `Stale`), so each decision is taken by the set
    ///         that existed when it was proposed.
    function validatorSetVersion() external view returns (uint32);

    // ------------------------------------------------------------------ views

    /// @notice True for an account holding any of the four roles.
    function isParticipant(address account) external view returns (bool);

    /// @notice Number of validators now.
    function validatorCount() external view returns (uint256);

    /// @notice The validator list in seat order (seat k is index k-1); used to recompute draws.
    function validators() external view returns (address[] memory);

    /// @notice Seat number of `account` (0 if it is not a validator).
    function seatOf(address account) external view returns (uint8);
}
