// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Quorum} from "./libraries/Quorum.sol";

/// @title TCLearn coalition: who takes part, in which role, with which keys
/// @notice The deployer seats the first participants; after genesis every change of role is decided
///         by ⌈2n/3⌉ of the n validators, never by one key. OpenZeppelin's admin path is closed:
///         `grantRole` and `revokeRole` always revert, nobody holds the admin role.
/// @dev Validators also hold a numbered seat (1..MAX_VALIDATORS) in `_validators`, which the ledger
///      uses for its one-word vote bitmap and for the general draw. The validator set only changes
///      while no candidate block is open, so a seat never changes hands during a vote.
abstract contract Coalition is AccessControl {
    /// @notice TCLearn-A (public model), -B (private model, trusting members), -C (homomorphic).
    enum Mode {
        A,
        B,
        C
    }

    /// @notice Lifecycle of a membership proposal. `Approved` means the vote passed but a validator
    ///         change waits for the open candidate block to close before it takes effect.
    enum ProposalState {
        None,
        Pending,
        Approved,
        Executed,
        Rejected,
        Expired,
        Stale
    }

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

    /// @dev Seat number (1-based, 0 = not a validator) and the validator's current draw commitment
    ///      share one storage word, so a vote reads and writes a single slot for both.
    struct Seat {
        uint8 number;
        bytes31 commitment;
    }

    bytes32 public constant MEMBER_ROLE = keccak256("tclearn.member");
    bytes32 public constant VALIDATOR_ROLE = keccak256("tclearn.validator");
    bytes32 public constant SUPERVISOR_ROLE = keccak256("tclearn.supervisor");
    bytes32 public constant AUDITOR_ROLE = keccak256("tclearn.auditor");

    /// @notice Upper bound of the validator set: a vote records its voter in a 128-bit word.
    uint256 public constant MAX_VALIDATORS = 128;

    Mode public immutable mode;
    /// @notice Seconds a membership proposal stays open.
    uint32 public immutable membershipTimeout;

    address[] internal _validators;
    mapping(address account => Seat) internal _seats;
    /// @notice Bumped at every change of the validator set; a membership proposal made under an
    ///         older set can no longer pass (it is `Stale`), so each decision is taken by the set
    ///         that existed when it was proposed.
    uint32 public validatorSetVersion;

    uint256 public membershipProposalCount;
    mapping(uint256 id => MembershipProposal) private _proposals;
    mapping(uint256 id => mapping(address validator => bool)) private _membershipVoted;

    /// @notice Fingerprint (e.g. SHA-256) of each participant's public key, by purpose
    ///         (keccak256("x25519") for mode B envelopes, keccak256("ckks") for mode C contexts).
    mapping(address account => mapping(bytes32 purpose => bytes32 fingerprint)) public keyFingerprint;

    event CoalitionCreated(Mode mode, uint32 membershipTimeout);
    event ValidatorSeated(address indexed validator, uint8 seat, uint32 setVersion);
    /// @param moved the validator moved into the freed seat (the former last seat), or zero
    event ValidatorUnseated(address indexed validator, uint8 seat, address moved, uint32 setVersion);
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
    event MembershipVoted(uint256 indexed id, address indexed validator, bool support);
    event MembershipDecided(uint256 indexed id, ProposalState state);
    event KeyRegistered(address indexed account, bytes32 indexed purpose, bytes32 fingerprint, string uri);

    error NotValidator(address account);
    error NotParticipant(address account);
    error UnknownRole(bytes32 role);
    error MembershipByVoteOnly();
    error RoleAlreadyHeld(address account, bytes32 role);
    error RoleNotHeld(address account, bytes32 role);
    error LastValidator(address account);
    error TooManyValidators(uint256 max);
    error ValidatorSetFrozen();
    error ProposalNotPending(uint256 id, ProposalState state);
    error ProposalNotApproved(uint256 id, ProposalState state);
    error AlreadyVotedOnProposal(uint256 id, address validator);
    error MissingSupervisor();
    error ZeroAddress();

    modifier onlyValidator() {
        if (_seats[msg.sender].number == 0) revert NotValidator(msg.sender);
        _;
    }

    constructor(
        Mode mode_,
        uint32 membershipTimeout_,
        address[] memory initialMembers,
        address[] memory initialValidators,
        address[] memory initialSupervisors,
        address[] memory initialAuditors
    ) {
        if (initialValidators.length == 0) revert LastValidator(address(0));
        if (mode_ == Mode.C && initialSupervisors.length == 0) revert MissingSupervisor();
        mode = mode_;
        membershipTimeout = membershipTimeout_;
        emit CoalitionCreated(mode_, membershipTimeout_);
        _seatAll(MEMBER_ROLE, initialMembers);
        _seatAll(VALIDATOR_ROLE, initialValidators);
        _seatAll(SUPERVISOR_ROLE, initialSupervisors);
        _seatAll(AUDITOR_ROLE, initialAuditors);
    }

    // ------------------------------------------------------------------ membership by vote

    /// @notice Opens a vote on granting or revoking `role` for `account`; the proposer's own
    ///         support is counted at once.
    /// @return id the proposal's number
    function proposeMembership(address account, bytes32 role, bool grant)
        external
        onlyValidator
        returns (uint256 id)
    {
        _requireKnownRole(role);
        _requireChangeable(account, role, grant);
        id = ++membershipProposalCount;
        uint32 deadline = uint32(block.timestamp) + membershipTimeout;
        uint8 electorate = uint8(_validators.length);
        _proposals[id] = MembershipProposal({
            account: account,
            grant: grant,
            electorate: electorate,
            ayes: 0,
            nays: 0,
            state: ProposalState.Pending,
            deadline: deadline,
            setVersion: validatorSetVersion,
            role: role
        });
        emit MembershipProposed(id, msg.sender, account, role, grant, electorate, deadline, validatorSetVersion);
        _castMembershipVote(id, true);
    }

    /// @notice Votes on a pending membership proposal; it is decided as soon as ⌈2n/3⌉ of the n
    ///         validators that existed at its proposal support it, or that can no longer happen.
    function voteMembership(uint256 id, bool support) external onlyValidator {
        _castMembershipVote(id, support);
    }

    /// @notice Carries out an approved validator change that had to wait for an open candidate
    ///         block to close. Anyone may call it.
    function executeMembership(uint256 id) external {
        ProposalState current = membershipState(id);
        if (current != ProposalState.Approved) revert ProposalNotApproved(id, current);
        _execute(id);
    }

    /// @notice State of a membership proposal, with expiry and staleness applied.
    function membershipState(uint256 id) public view returns (ProposalState) {
        MembershipProposal storage p = _proposals[id];
        ProposalState stored = p.state;
        if (stored != ProposalState.Pending) return stored;
        if (p.setVersion != validatorSetVersion) return ProposalState.Stale;
        // slither-disable-next-line timestamp -- deadlines are minutes long; miner drift is seconds
        if (block.timestamp > p.deadline) return ProposalState.Expired;
        return ProposalState.Pending;
    }

    /// @notice A membership proposal's stored fields (its state as `membershipState` reports it).
    function membershipProposal(uint256 id) external view returns (MembershipProposal memory p) {
        p = _proposals[id];
        p.state = membershipState(id);
    }

    /// @notice Whether `validator` has voted on membership proposal `id`.
    function hasVotedOnMembership(uint256 id, address validator) external view returns (bool) {
        return _membershipVoted[id][validator];
    }

    // ------------------------------------------------------------------ keys

    /// @notice Publishes the fingerprint of the caller's public key for `purpose`, and where the
    ///         full key can be fetched (`uri`, e.g. an IPFS CID: a CKKS context is megabytes).
    function registerKey(bytes32 purpose, bytes32 fingerprint, string calldata uri) external {
        if (!isParticipant(msg.sender)) revert NotParticipant(msg.sender);
        keyFingerprint[msg.sender][purpose] = fingerprint;
        emit KeyRegistered(msg.sender, purpose, fingerprint, uri);
    }

    // ------------------------------------------------------------------ views

    /// @notice True for an account holding any of the four roles.
    function isParticipant(address account) public view returns (bool) {
        return hasRole(MEMBER_ROLE, account) || hasRole(VALIDATOR_ROLE, account)
            || hasRole(SUPERVISOR_ROLE, account) || hasRole(AUDITOR_ROLE, account);
    }

    /// @notice Number of validators now.
    function validatorCount() external view returns (uint256) {
        return _validators.length;
    }

    /// @notice The validator list in seat order (seat k is index k-1); used to recompute draws.
    function validators() external view returns (address[] memory) {
        return _validators;
    }

    /// @notice Seat number of `account` (0 if it is not a validator).
    function seatOf(address account) external view returns (uint8) {
        return _seats[account].number;
    }

    // ------------------------------------------------------------------ closed admin path

    /// @notice Always reverts: roles change only through `proposeMembership`.
    function grantRole(bytes32, address) public pure override {
        revert MembershipByVoteOnly();
    }

    /// @notice Always reverts: roles change only through `proposeMembership`.
    function revokeRole(bytes32, address) public pure override {
        revert MembershipByVoteOnly();
    }

    /// @notice A participant may leave a role by itself; a validator only between candidate
    ///         blocks, and never the last one.
    function renounceRole(bytes32 role, address callerConfirmation) public override {
        if (role == VALIDATOR_ROLE && _validators.length == 1 && _seats[msg.sender].number != 0) {
            revert LastValidator(msg.sender);
        }
        super.renounceRole(role, callerConfirmation);
    }

    // ------------------------------------------------------------------ hooks for the ledger

    /// @dev True while a candidate block is open for votes (the validator set is then frozen).
    function _candidateOpen() internal view virtual returns (bool);

    /// @dev Called after `validator` left the set, so the ledger can redraw a general that left.
    function _afterValidatorRemoved(address validator) internal virtual;

    // ------------------------------------------------------------------ internals

    function _castMembershipVote(uint256 id, bool support) private {
        ProposalState current = membershipState(id);
        if (current != ProposalState.Pending) revert ProposalNotPending(id, current);
        if (_membershipVoted[id][msg.sender]) revert AlreadyVotedOnProposal(id, msg.sender);
        _membershipVoted[id][msg.sender] = true;
        MembershipProposal storage p = _proposals[id];
        emit MembershipVoted(id, msg.sender, support);
        if (support) {
            uint8 ayes = ++p.ayes;
            if (ayes >= Quorum.threshold(p.electorate)) _approve(id, p);
        } else {
            uint8 nays = ++p.nays;
            if (Quorum.unreachable(p.electorate, nays)) _decide(id, p, ProposalState.Rejected);
        }
    }

    function _approve(uint256 id, MembershipProposal storage p) private {
        if (p.role == VALIDATOR_ROLE && _candidateOpen()) {
            _decide(id, p, ProposalState.Approved);
        } else {
            _execute(id);
        }
    }

    function _execute(uint256 id) private {
        MembershipProposal storage p = _proposals[id];
        _requireChangeable(p.account, p.role, p.grant);
        _decide(id, p, ProposalState.Executed);
        if (p.grant) {
            _grantRole(p.role, p.account);
        } else {
            _revokeRole(p.role, p.account);
        }
    }

    function _decide(uint256 id, MembershipProposal storage p, ProposalState state) private {
        p.state = state;
        emit MembershipDecided(id, state);
    }

    function _seatAll(bytes32 role, address[] memory accounts) private {
        for (uint256 i = 0; i < accounts.length; ++i) {
            if (accounts[i] == address(0)) revert ZeroAddress();
            _grantRole(role, accounts[i]);
        }
    }

    function _requireKnownRole(bytes32 role) private pure {
        if (role != MEMBER_ROLE && role != VALIDATOR_ROLE && role != SUPERVISOR_ROLE && role != AUDITOR_ROLE) {
            revert UnknownRole(role);
        }
    }

    function _requireChangeable(address account, bytes32 role, bool grant) private view {
        if (account == address(0)) revert ZeroAddress();
        bool held = hasRole(role, account);
        if (grant && held) revert RoleAlreadyHeld(account, role);
        if (!grant && !held) revert RoleNotHeld(account, role);
        if (role != VALIDATOR_ROLE) return;
        if (_candidateOpen()) revert ValidatorSetFrozen();
        if (grant && _validators.length >= MAX_VALIDATORS) revert TooManyValidators(MAX_VALIDATORS);
        if (!grant && _validators.length == 1) revert LastValidator(account);
    }

    /// @dev Keeps the seat list in step with VALIDATOR_ROLE, whichever path granted it.
    function _grantRole(bytes32 role, address account) internal override returns (bool granted) {
        granted = super._grantRole(role, account);
        if (!granted || role != VALIDATOR_ROLE) return granted;
        if (_validators.length >= MAX_VALIDATORS) revert TooManyValidators(MAX_VALIDATORS);
        _validators.push(account);
        uint8 seat = uint8(_validators.length);
        _seats[account] = Seat({number: seat, commitment: bytes31(0)});
        ++validatorSetVersion;
        emit ValidatorSeated(account, seat, validatorSetVersion);
    }

    /// @dev Frees the leaver's seat by moving the last validator into it (no loop over the set).
    function _revokeRole(bytes32 role, address account) internal override returns (bool revoked) {
        if (role == VALIDATOR_ROLE && _seats[account].number != 0 && _candidateOpen()) {
            revert ValidatorSetFrozen();
        }
        revoked = super._revokeRole(role, account);
        if (!revoked || role != VALIDATOR_ROLE) return revoked;
        uint8 seat = _seats[account].number;
        uint256 last = _validators.length;
        address moved = address(0);
        if (seat != last) {
            moved = _validators[last - 1];
            _validators[seat - 1] = moved;
            _seats[moved].number = seat;
        }
        _validators.pop();
        delete _seats[account];
        ++validatorSetVersion;
        emit ValidatorUnseated(account, seat, moved, validatorSetVersion);
        _afterValidatorRemoved(account);
    }
}
