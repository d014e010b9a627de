// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ICoalition} from "./interfaces/ICoalition.sol";
import {Quorum} from "./libraries/Quorum.sol";

/// @title TCLearn coalition: who takes part, in which role, with which keys
/// @notice The deployer seats the first participants; after genesis every change of role is decided
///         by ⌈2n/3⌉ of the n validators, never by one key. OpenZeppelin's admin path is closed:
///         `grantRole` and `revokeRole` always revert, nobody holds the admin role.
/// @dev Validators also hold a numbered seat (1..MAX_VALIDATORS) in `_validators`, which the ledger
///      uses for its one-word vote bitmap and for the general draw. The validator set only changes
///      while no candidate block is open, so a seat never changes hands during a vote.
///      Types, events and errors are declared, and documented, once in `ICoalition`.
abstract contract Coalition is ICoalition, AccessControl {
    /// @dev Seat number (1-based, 0 = not a validator) and the validator's current draw commitment
    ///      share one storage word, so a vote reads and writes a single slot for both.
    struct Seat {
        uint8 number;
        bytes31 commitment;
    }

    /// @inheritdoc ICoalition
    bytes32 public constant MEMBER_ROLE = keccak256("tclearn.member");
    /// @inheritdoc ICoalition
    bytes32 public constant VALIDATOR_ROLE = keccak256("tclearn.validator");
    /// @inheritdoc ICoalition
    bytes32 public constant SUPERVISOR_ROLE = keccak256("tclearn.supervisor");
    /// @inheritdoc ICoalition
    bytes32 public constant AUDITOR_ROLE = keccak256("tclearn.auditor");

    /// @inheritdoc ICoalition
    uint256 public constant MAX_VALIDATORS = 128;

    /// @inheritdoc ICoalition
    Mode public immutable mode;
    /// @inheritdoc ICoalition
    uint32 public immutable membershipTimeout;

    address[] internal _validators;
    mapping(address account => Seat) internal _seats;
    /// @inheritdoc ICoalition
    uint32 public validatorSetVersion;

    /// @inheritdoc ICoalition
    uint256 public membershipProposalCount;
    mapping(uint256 id => MembershipProposal) private _proposals;
    mapping(uint256 id => mapping(address validator => bool)) private _membershipVoted;

    /// @inheritdoc ICoalition
    mapping(address account => mapping(bytes32 purpose => bytes32 fingerprint)) public keyFingerprint;

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

    /// @inheritdoc ICoalition
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

    /// @inheritdoc ICoalition
    function voteMembership(uint256 id, bool support) external onlyValidator {
        _castMembershipVote(id, support);
    }

    /// @inheritdoc ICoalition
    function executeMembership(uint256 id) external {
        ProposalState current = membershipState(id);
        if (current != ProposalState.Approved) revert ProposalNotApproved(id, current);
        _execute(id);
    }

    /// @inheritdoc ICoalition
    function membershipState(uint256 id) public view returns (ProposalState) {
        MembershipProposal storage p = _proposals[id];
        ProposalState stored = p.state;
        if (stored != ProposalState.Pending) return stored;
        if (p.setVersion != validatorSetVersion) return ProposalState.Stale;
        // slither-disable-next-line timestamp -- deadlines are minutes long; miner drift is seconds
        if (block.timestamp > p.deadline) return ProposalState.Expired;
        return ProposalState.Pending;
    }

    /// @inheritdoc ICoalition
    function membershipProposal(uint256 id) external view returns (MembershipProposal memory p) {
        p = _proposals[id];
        p.state = membershipState(id);
    }

    /// @inheritdoc ICoalition
    function hasVotedOnMembership(uint256 id, address validator) external view returns (bool) {
        return _membershipVoted[id][validator];
    }

    // ------------------------------------------------------------------ keys

    /// @inheritdoc ICoalition
    function registerKey(bytes32 purpose, bytes32 fingerprint, string calldata uri) external {
        if (!isParticipant(msg.sender)) revert NotParticipant(msg.sender);
        keyFingerprint[msg.sender][purpose] = fingerprint;
        emit KeyRegistered(msg.sender, purpose, fingerprint, uri);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc ICoalition
    function isParticipant(address account) public view returns (bool) {
        return hasRole(MEMBER_ROLE, account) || hasRole(VALIDATOR_ROLE, account)
            || hasRole(SUPERVISOR_ROLE, account) || hasRole(AUDITOR_ROLE, account);
    }

    /// @inheritdoc ICoalition
    function validatorCount() external view returns (uint256) {
        return _validators.length;
    }

    /// @inheritdoc ICoalition
    function validators() external view returns (address[] memory) {
        return _validators;
    }

    /// @inheritdoc ICoalition
    function seatOf(address account) external view returns (uint8) {
        return _seats[account].number;
    }

    // ------------------------------------------------------------------ closed admin path

    /// @notice Always reverts: roles change only through `proposeMembership`.
    function grantRole(bytes32, address) public pure override(AccessControl, IAccessControl) {
        revert MembershipByVoteOnly();
    }

    /// @notice Always reverts: roles change only through `proposeMembership`.
    function revokeRole(bytes32, address) public pure override(AccessControl, IAccessControl) {
        revert MembershipByVoteOnly();
    }

    /// @notice A participant may leave a role by itself; a validator only between candidate
    ///         blocks, and never the last one.
    function renounceRole(bytes32 role, address callerConfirmation) public override(AccessControl, IAccessControl) {
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
        (uint8 ayes, uint8 nays, Quorum.Outcome outcome) = Quorum.count(p.electorate, p.ayes, p.nays, support);
        (p.ayes, p.nays) = (ayes, nays);
        if (outcome == Quorum.Outcome.Passed) _approve(id, p);
        else if (outcome == Quorum.Outcome.Failed) _decide(id, p, ProposalState.Rejected);
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
