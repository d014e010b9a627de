// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {ModelLedger} from "../ModelLedger.sol";
import {Coalition} from "../Coalition.sol";
import {ICoalition} from "../interfaces/ICoalition.sol";
import {IModelLedger} from "../interfaces/IModelLedger.sol";
import {Vm, vm} from "./utils/Vm.sol";
import {LedgerFixture} from "./utils/LedgerFixture.sol";

/// @notice Drives the ledger through random but mostly valid sequences of every external action,
///         from many actors, and keeps ghost state rebuilt only from what it did and from the
///         ledger's events. Anything that contradicts the specification is counted in
///         `violations` (the handler never reverts on its own: the invariants read the count).
contract LedgerHandler {
    ModelLedger public immutable ledger;

    uint256 internal constant VALIDATOR_POOL = 12; // 0x1000 .. 0x100b
    uint256 internal constant MEMBER_POOL = 6; // 0x2000 .. 0x2005, 0x2000 never leaves
    address internal constant OUTSIDER = address(0xBAD);
    uint32 internal constant MIN_BATCH = 8;
    bytes32 internal constant MEMBER = keccak256("tclearn.member");
    bytes32 internal constant VALIDATOR = keccak256("tclearn.validator");

    // ------------------------------------------------------------ ghost: time and draw
    uint256 public ghostTime;
    bytes32 public expectedSeed;
    address[] internal _replay; // validator list replayed from ValidatorSeated / ValidatorUnseated
    mapping(address validator => bytes32 secret) internal _secretOf; // what the handler committed to
    address public ghostGeneral;
    uint32 public ghostRound;
    uint32 public ghostAttempt;
    uint256 public roundsOpened;

    // ------------------------------------------------------------ ghost: blocks
    uint64 public ghostHead = 1;
    uint64 public ghostBlockCount = 1;
    uint64[] internal _heads; // every head in order, genesis first
    struct GhostBlock {
        IModelLedger.BlockState state; // as set by BlockProposed and the closing event
        uint64 parent;
        uint256 electorate;
        uint256 accepts; // VoteCast events seen
        uint256 rejects;
        uint256 voters; // distinct voters seen
        uint256 closes; // BlockFinalized / BlockRejected / BlockExpired events seen
    }

    mapping(uint64 id => GhostBlock) internal _gb;
    mapping(uint64 id => mapping(address validator => bool)) internal _voted;
    mapping(uint64 parent => uint64[]) internal _updatesOn;

    // ------------------------------------------------------------ ghost: membership
    uint256[] internal _proposals;
    struct GhostProposal {
        ICoalition.ProposalState state; // as set by MembershipProposed / MembershipDecided
        uint256 electorate;
        uint256 ayes; // MembershipVoted events seen
        uint256 nays;
    }

    mapping(uint256 id => GhostProposal) internal _gp;
    mapping(uint256 id => mapping(address validator => bool)) internal _memVoted;

    // ------------------------------------------------------------ outcome
    uint256 public violations;
    string public firstViolation;
    uint256 public finals;
    uint256 public rejections;
    uint256 public expiries;
    uint256 public redraws;
    uint256 public reveals;
    uint256 public withheld; // reveals the handler withheld while holding a commitment
    uint256 public withheldEvents; // RevealWithheld events seen
    uint256 public validatorChanges;
    uint256 public refusalsChecked;
    uint256 private _nonce;

    constructor(ModelLedger ledger_, address[] memory validators_) {
        ledger = ledger_;
        ghostTime = block.timestamp;
        _heads.push(1);
        _gb[1].state = IModelLedger.BlockState.Final;
        for (uint256 i = 0; i < validators_.length; ++i) _replay.push(validators_[i]);
        expectedSeed = keccak256(abi.encode(block.chainid, address(ledger_), keccak256("genesis model")));
        (ghostRound, ghostAttempt, ghostGeneral,) = ledger_.currentRound();
        roundsOpened = 1;
    }

    // ================================================================ actions

    function registerUpdate(uint256 actor, uint256 parentPick, uint256 batch, uint256 extra) external {
        _begin();
        address member = _pickMember(actor);
        uint64 parent = parentPick % 5 == 0 ? _heads[parentPick % _heads.length] : ghostHead;
        uint32 b = uint32(MIN_BATCH + batch % 57);
        uint32 samples = b + uint32(extra % 1000);
        if (actor % 11 == 0) {
            // refusal: outsiders never register, and neither does anyone on a non-final parent
            (, uint64 open,,) = ledger.cursor();
            uint64 bad = open != 0 ? open : ghostBlockCount + 1; // pending, or not yet a block
            _expectFailure(
                OUTSIDER,
                abi.encodeCall(ModelLedger.registerUpdate, (parent, bytes32(uint256(1)), 0, samples, b)),
                IModelLedger.NotMember.selector
            );
            _expectFailure(
                member,
                abi.encodeCall(ModelLedger.registerUpdate, (bad, bytes32(uint256(1)), 0, samples, b)),
                IModelLedger.UnknownBlock.selector
            );
        }
        vm.prank(member);
        try ledger.registerUpdate(parent, _fresh(), _fresh(), samples, b) {}
        catch (bytes memory err) {
            _discard();
            _violation("valid registerUpdate reverted", err);
        }
        _sync();
    }

    function propose(uint256 pick, uint256 actor) external {
        _begin();
        (, uint64 open,,) = ledger.cursor();
        (uint32 round,, address g, uint32 deadline) = ledger.currentRound();
        if (open != 0) {
            _expectFailure(g, _proposeCall(new uint64[](0), round), IModelLedger.CandidateAlreadyOpen.selector);
            return _sync();
        }
        if (block.timestamp > deadline) {
            _expectFailure(g, _proposeCall(new uint64[](0), round), IModelLedger.ProposalWindowClosed.selector);
            ledger.redraw();
            return _sync();
        }
        if (_updatesOn[ghostHead].length == 0) {
            vm.prank(address(uint160(0x2000)));
            ledger.registerUpdate(ghostHead, _fresh(), 0, 64, MIN_BATCH);
            _sync();
            _begin();
        }
        uint64[] memory ids = _pickUpdates(pick);
        if (actor % 7 == 0) {
            address other = _pickValidator(actor >> 8);
            if (other != g) _expectFailure(other, _proposeCall(ids, round), IModelLedger.NotGeneral.selector);
            _expectFailure(g, _proposeCall(ids, round + 1), IModelLedger.WrongRound.selector);
        }
        vm.prank(g);
        try ledger.propose(ghostHead, _fresh(), _fresh(), ids, round, _fresh()) {}
        catch (bytes memory err) {
            _discard();
            _violation("valid propose reverted", err);
        }
        _sync();
    }

    function vote(uint256 actor, bool accept, uint256 mode) external {
        _begin();
        (, uint64 open,,) = ledger.cursor();
        if (open == 0) return;
        IModelLedger.Block memory b = ledger.blockInfo(open);
        if (block.timestamp > b.deadline) {
            _expectFailure(_pickValidator(actor), abi.encodeCall(ModelLedger.vote, (open, accept, 0, 0, 0)), IModelLedger.VotingClosed.selector);
            ledger.expire(open);
            return _sync();
        }
        address[] memory vs = ledger.validators();
        address v;
        for (uint256 i = 0; i < vs.length; ++i) {
            address cand = vs[(actor % vs.length + i) % vs.length];
            if (!_voted[open][cand]) {
                v = cand;
                break;
            }
            if (i == 0 && mode % 8 == 0) {
                _expectFailure(cand, abi.encodeCall(ModelLedger.vote, (open, accept, 0, 0, 0)), IModelLedger.AlreadyVoted.selector);
            }
        }
        if (v == address(0)) {
            _violation("pending block with every validator voted", "");
            return _sync();
        }
        if (mode % 13 == 0) {
            _expectFailure(address(uint160(0x2000)), abi.encodeCall(ModelLedger.vote, (open, accept, 0, 0, 0)), ICoalition.NotValidator.selector);
        }
        bytes32 secret = _secretOf[v];
        bytes32 reveal = secret;
        if (secret != bytes32(0) && mode % 5 == 0) reveal = bytes32(0); // withhold
        if (mode % 6 == 1) {
            // refusal: a reveal that does not open the commitment
            bytes32 wrong = keccak256(abi.encode(secret, "wrong"));
            _expectFailure(v, abi.encodeCall(ModelLedger.vote, (open, accept, 0, wrong, 0)), IModelLedger.BadReveal.selector);
        }
        bytes32 next = mode % 4 == 3 ? bytes32(0) : _fresh();
        bytes32 commit = next == bytes32(0) ? bytes32(0) : keccak256(abi.encode(v, next));
        vm.prank(v);
        try ledger.vote(open, accept, bytes32(mode), reveal, commit) {
            if (reveal != bytes32(0)) {
                expectedSeed = keccak256(abi.encode(expectedSeed, reveal));
                ++reveals;
            } else if (secret != bytes32(0)) {
                ++withheld;
            }
            _secretOf[v] = next;
        } catch (bytes memory err) {
            _discard();
            _violation("valid vote reverted", err);
        }
        _sync();
    }

    function warpAndExpire(uint256 dt) external {
        _begin();
        (, uint64 open,,) = ledger.cursor();
        if (open == 0) {
            _warp(dt % 120);
            return _sync();
        }
        IModelLedger.Block memory b = ledger.blockInfo(open);
        if (block.timestamp <= b.deadline) {
            _expectFailure(OUTSIDER, abi.encodeCall(ModelLedger.expire, (open)), IModelLedger.VotingStillOpen.selector);
            _warp(b.deadline - block.timestamp + 1 + dt % 600);
        }
        vm.prank(OUTSIDER);
        try ledger.expire(open) {}
        catch (bytes memory err) {
            _discard();
            _violation("valid expire reverted", err);
        }
        _sync();
    }

    function warpAndRedraw(uint256 dt) external {
        _begin();
        (, uint64 open,,) = ledger.cursor();
        if (open != 0) {
            _expectFailure(OUTSIDER, abi.encodeCall(ModelLedger.redraw, ()), IModelLedger.CandidateAlreadyOpen.selector);
            return _sync();
        }
        (,,, uint32 deadline) = ledger.currentRound();
        if (block.timestamp <= deadline) {
            _expectFailure(OUTSIDER, abi.encodeCall(ModelLedger.redraw, ()), IModelLedger.ProposalWindowOpen.selector);
            _warp(deadline - block.timestamp + 1 + dt % 600);
        }
        try ledger.redraw() {}
        catch (bytes memory err) {
            _discard();
            _violation("valid redraw reverted", err);
        }
        _sync();
    }

    function proposeMembership(uint256 actor, uint256 target, uint256 kind) external {
        _begin();
        address[] memory vs = ledger.validators();
        address proposer = vs[actor % vs.length];
        (, uint64 open,,) = ledger.cursor();
        kind %= 4;
        bytes32 role = kind < 2 ? VALIDATOR : MEMBER;
        bool grant = kind % 2 == 0;
        address account;
        if (kind == 0) {
            account = _validatorAt(target % VALIDATOR_POOL);
            if (ledger.seatOf(account) != 0) return _sync();
        } else if (kind == 1) {
            account = vs[target % vs.length];
            if (vs.length == 1) {
                _expectFailure(proposer, abi.encodeCall(Coalition.proposeMembership, (account, role, false)), open != 0 ? ICoalition.ValidatorSetFrozen.selector : ICoalition.LastValidator.selector);
                return _sync();
            }
        } else {
            account = _memberAt(1 + target % (MEMBER_POOL - 1));
            if (ledger.hasRole(MEMBER, account) == grant) return _sync();
        }
        if (actor % 9 == 0) {
            _expectFailure(address(uint160(0x2000)), abi.encodeCall(Coalition.proposeMembership, (account, role, grant)), ICoalition.NotValidator.selector);
        }
        if (role == VALIDATOR && open != 0) {
            _expectFailure(proposer, abi.encodeCall(Coalition.proposeMembership, (account, role, grant)), ICoalition.ValidatorSetFrozen.selector);
            return _sync();
        }
        vm.prank(proposer);
        try ledger.proposeMembership(account, role, grant) returns (uint256 id) {
            _proposals.push(id);
        } catch (bytes memory err) {
            _discard();
            _violation("valid proposeMembership reverted", err);
        }
        _sync();
    }

    function voteMembership(uint256 actor, uint256 pick, uint256 support) external {
        _begin();
        if (_proposals.length == 0) return;
        uint256 id = _proposals[_proposals.length - 1 - pick % (_proposals.length < 6 ? _proposals.length : 6)];
        ICoalition.ProposalState s = ledger.membershipState(id);
        address[] memory vs = ledger.validators();
        address v = vs[actor % vs.length];
        if (s != ICoalition.ProposalState.Pending) {
            _expectFailure(v, abi.encodeCall(Coalition.voteMembership, (id, true)), ICoalition.ProposalNotPending.selector);
            return _sync();
        }
        for (uint256 i = 0; i < vs.length && _memVoted[id][v]; ++i) v = vs[(actor % vs.length + i) % vs.length];
        if (_memVoted[id][v]) {
            _expectFailure(v, abi.encodeCall(Coalition.voteMembership, (id, true)), ICoalition.AlreadyVotedOnProposal.selector);
            return _sync();
        }
        vm.prank(v);
        try ledger.voteMembership(id, support % 4 != 0) {}
        catch (bytes memory err) {
            _discard();
            // a final aye may find the change already made by a twin proposal
            bytes4 sel = _selector(err);
            if (sel != ICoalition.RoleAlreadyHeld.selector && sel != ICoalition.RoleNotHeld.selector) {
                _violation("valid voteMembership reverted", err);
            }
        }
        _sync();
    }

    function executeMembership(uint256 pick) external {
        _begin();
        if (_proposals.length == 0) return;
        uint256 id = _proposals[pick % _proposals.length];
        ICoalition.ProposalState s = ledger.membershipState(id);
        (, uint64 open,,) = ledger.cursor();
        if (s != ICoalition.ProposalState.Approved) {
            _expectFailure(OUTSIDER, abi.encodeCall(Coalition.executeMembership, (id)), ICoalition.ProposalNotApproved.selector);
            return _sync();
        }
        if (open != 0) {
            // frozen, unless the change became moot first (a twin proposal already made it)
            ICoalition.MembershipProposal memory p = ledger.membershipProposal(id);
            bool moot = ledger.hasRole(p.role, p.account) == p.grant;
            bytes4 expected = moot
                ? (p.grant ? ICoalition.RoleAlreadyHeld.selector : ICoalition.RoleNotHeld.selector)
                : ICoalition.ValidatorSetFrozen.selector;
            _expectFailure(OUTSIDER, abi.encodeCall(Coalition.executeMembership, (id)), expected);
            return _sync();
        }
        vm.prank(OUTSIDER);
        try ledger.executeMembership(id) {}
        catch (bytes memory err) {
            _discard();
            bytes4 sel = _selector(err);
            if (sel != ICoalition.RoleAlreadyHeld.selector && sel != ICoalition.RoleNotHeld.selector && sel != ICoalition.LastValidator.selector) {
                _violation("valid executeMembership reverted", err);
            }
        }
        _sync();
    }

    function renounceValidator(uint256 actor) external {
        _begin();
        address[] memory vs = ledger.validators();
        address v = vs[actor % vs.length];
        (, uint64 open,,) = ledger.cursor();
        bytes memory call = abi.encodeCall(Coalition.renounceRole, (VALIDATOR, v));
        if (vs.length == 1) {
            _expectFailure(v, call, ICoalition.LastValidator.selector);
        } else if (open != 0) {
            _expectFailure(v, call, ICoalition.ValidatorSetFrozen.selector);
        } else {
            vm.prank(v);
            try ledger.renounceRole(VALIDATOR, v) {}
            catch (bytes memory err) {
                _discard();
                _violation("valid renounceRole reverted", err);
            }
        }
        _sync();
    }

    // ================================================================ ghost views

    function headsLength() external view returns (uint256) {
        return _heads.length;
    }

    function headAt(uint256 i) external view returns (uint64) {
        return _heads[i];
    }

    function replay() external view returns (address[] memory) {
        return _replay;
    }

    function proposalCount() external view returns (uint256) {
        return _proposals.length;
    }

    function proposalAt(uint256 i) external view returns (uint256) {
        return _proposals[i];
    }

    /// @notice Ghost blocks 0..ghostBlockCount, in one call.
    function ghostBlocks() external view returns (GhostBlock[] memory all) {
        all = new GhostBlock[](ghostBlockCount + 1);
        for (uint64 id = 1; id <= ghostBlockCount; ++id) all[id] = _gb[id];
    }

    /// @notice The proposals the handler made, with their ghost counts, in one call.
    function ghostProposals() external view returns (uint256[] memory ids, GhostProposal[] memory all) {
        ids = _proposals;
        all = new GhostProposal[](ids.length);
        for (uint256 i = 0; i < ids.length; ++i) all[i] = _gp[ids[i]];
    }

    function hasGhostVoted(uint64 id, address v) external view returns (bool) {
        return _voted[id][v];
    }

    /// @notice ⌈2n/3⌉ by ceiling division, independently of the Quorum library.
    function threshold(uint256 n) public pure returns (uint256) {
        return (2 * n) / 3 + ((2 * n) % 3 == 0 ? 0 : 1);
    }

    // ================================================================ event replay

    function _sync() internal {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i = 0; i < logs.length; ++i) {
            if (logs[i].emitter != address(ledger)) continue;
            bytes32 sig = logs[i].topics[0];
            if (sig == ICoalition.ValidatorSeated.selector) _onSeated(logs[i]);
            else if (sig == ICoalition.ValidatorUnseated.selector) _onUnseated(logs[i]);
            else if (sig == IModelLedger.RoundOpened.selector) _onRoundOpened(logs[i]);
            else if (sig == IModelLedger.UpdateRegistered.selector) _onUpdate(logs[i]);
            else if (sig == IModelLedger.BlockProposed.selector) _onProposed(logs[i]);
            else if (sig == IModelLedger.VoteCast.selector) _onVote(logs[i]);
            else if (sig == IModelLedger.BlockFinalized.selector) _onFinalized(logs[i]);
            else if (sig == IModelLedger.BlockRejected.selector) _onClosed(logs[i], IModelLedger.BlockState.Rejected);
            else if (sig == IModelLedger.BlockExpired.selector) _onClosed(logs[i], IModelLedger.BlockState.Expired);
            else if (sig == IModelLedger.GeneralTimedOut.selector) ++redraws;
            else if (sig == IModelLedger.RevealWithheld.selector) _onWithheld(logs[i]);
            else if (sig == ICoalition.MembershipProposed.selector) _onMembershipProposed(logs[i]);
            else if (sig == ICoalition.MembershipVoted.selector) _onMembershipVoted(logs[i]);
            else if (sig == ICoalition.MembershipDecided.selector) _onMembershipDecided(logs[i]);
        }
    }

    function _onSeated(Vm.Log memory log) internal {
        address v = address(uint160(uint256(log.topics[1])));
        (uint8 seat,) = abi.decode(log.data, (uint8, uint32));
        _replay.push(v);
        if (seat != _replay.length) _violation("ValidatorSeated seat is not the next seat", "");
        _secretOf[v] = bytes32(0);
        ++validatorChanges;
    }

    function _onUnseated(Vm.Log memory log) internal {
        address v = address(uint160(uint256(log.topics[1])));
        (uint8 seat, address moved,) = abi.decode(log.data, (uint8, address, uint32));
        uint256 last = _replay.length;
        if (seat == 0 || seat > last || _replay[seat - 1] != v) _violation("ValidatorUnseated seat mismatch", "");
        if (moved != (seat == last ? address(0) : _replay[last - 1])) _violation("ValidatorUnseated moved mismatch", "");
        if (seat != 0 && seat < last) _replay[seat - 1] = _replay[last - 1];
        _replay.pop();
        _secretOf[v] = bytes32(0);
        ++validatorChanges;
    }

    function _onRoundOpened(Vm.Log memory log) internal {
        uint32 round = uint32(uint256(log.topics[1]));
        address g = address(uint160(uint256(log.topics[2])));
        (uint32 attempt, uint8 index, bytes32 s,) = abi.decode(log.data, (uint32, uint8, bytes32, uint32));
        if (s != expectedSeed) _violation("RoundOpened seed differs from the seed recomputed from reveals", "");
        uint256 expectedIndex = uint256(keccak256(abi.encode(expectedSeed, round, attempt))) % _replay.length;
        if (index != expectedIndex) _violation("RoundOpened index is not keccak(seed, round, attempt) % n", "");
        if (g != _replay[expectedIndex]) _violation("RoundOpened general is not validators[index]", "");
        bool next = round == ghostRound + 1 && attempt == 0;
        bool retry = round == ghostRound && attempt == ghostAttempt + 1;
        if (!next && !retry) _violation("RoundOpened does not follow the previous round", "");
        (ghostRound, ghostAttempt, ghostGeneral) = (round, attempt, g);
        ++roundsOpened;
    }

    function _onWithheld(Vm.Log memory log) internal {
        if (uint32(uint256(log.topics[2])) != ghostRound) _violation("RevealWithheld names another round", "");
        ++withheldEvents;
    }

    function _onUpdate(Vm.Log memory log) internal {
        uint64 id = uint64(uint256(log.topics[1]));
        uint64 parent = uint64(uint256(log.topics[3]));
        if (_gb[parent].state != IModelLedger.BlockState.Final) _violation("update registered on a non-final block", "");
        _updatesOn[parent].push(id);
    }

    function _onProposed(Vm.Log memory log) internal {
        uint64 id = uint64(uint256(log.topics[1]));
        uint32 round = uint32(uint256(log.topics[2]));
        address g = address(uint160(uint256(log.topics[3])));
        (uint64 parent,,, uint64[] memory ids,, uint8 electorate,) =
            abi.decode(log.data, (uint64, bytes32, bytes32, uint64[], bytes32, uint8, uint32));
        if (g != ghostGeneral || round != ghostRound) _violation("block proposed by someone else than the drawn general", "");
        if (id != ghostBlockCount + 1) _violation("block ids not consecutive", "");
        if (parent != ghostHead) _violation("candidate does not extend the head", "");
        if (electorate != _replay.length) _violation("electorate is not the validator count", "");
        for (uint256 i = 0; i < ids.length; ++i) {
            if (ledger.updateInfo(ids[i]).parent != parent) _violation("candidate holds an update of another parent", "");
        }
        for (uint64 b = 2; b <= ghostBlockCount; ++b) {
            if (_gb[b].state == IModelLedger.BlockState.Pending) _violation("two candidates open at once", "");
        }
        ghostBlockCount = id;
        _gb[id].state = IModelLedger.BlockState.Pending;
        _gb[id].parent = parent;
        _gb[id].electorate = electorate;
    }

    function _onVote(Vm.Log memory log) internal {
        uint64 id = uint64(uint256(log.topics[1]));
        address v = address(uint160(uint256(log.topics[2])));
        (bool accept,,,) = abi.decode(log.data, (bool, bytes32, bytes32, bytes32));
        if (_gb[id].state != IModelLedger.BlockState.Pending) _violation("vote counted on a decided block", "");
        if (_voted[id][v]) _violation("a validator's vote counted twice", "");
        if (ledger.seatOf(v) == 0) _violation("vote by a non-validator", "");
        _voted[id][v] = true;
        ++_gb[id].voters;
        if (accept) ++_gb[id].accepts;
        else ++_gb[id].rejects;
    }

    function _onFinalized(Vm.Log memory log) internal {
        uint64 id = uint64(uint256(log.topics[1]));
        uint64 parent = uint64(uint256(log.topics[2]));
        (uint8 accepts, uint8 rejects) = abi.decode(log.data, (uint8, uint8));
        _terminal(id);
        uint256 t = threshold(_gb[id].electorate);
        if (accepts != t || _gb[id].accepts != t) _violation("block final without exactly 2n/3 accepts", "");
        if (rejects != _gb[id].rejects) _violation("BlockFinalized rejects differ from the votes", "");
        if (parent != ghostHead || _gb[id].parent != ghostHead) _violation("head moved to a block whose parent was not the head", "");
        _gb[id].state = IModelLedger.BlockState.Final;
        ghostHead = id;
        _heads.push(id);
        ++finals;
    }

    function _onClosed(Vm.Log memory log, IModelLedger.BlockState state) internal {
        uint64 id = uint64(uint256(log.topics[1]));
        (uint8 accepts, uint8 rejects) = abi.decode(log.data, (uint8, uint8));
        _terminal(id);
        uint256 n = _gb[id].electorate;
        uint256 t = threshold(n);
        if (accepts != _gb[id].accepts || rejects != _gb[id].rejects) _violation("close event counts differ from the votes", "");
        if (state == IModelLedger.BlockState.Rejected) {
            if (rejects != n - t + 1) _violation("block rejected not exactly when 2n/3 became unreachable", "");
            ++rejections;
        } else {
            if (accepts >= t || rejects > n - t) _violation("decided block expired", "");
            if (block.timestamp <= ledger.blockInfo(id).deadline) _violation("block expired before its deadline", "");
            ++expiries;
        }
        _gb[id].state = state;
    }

    function _terminal(uint64 id) internal {
        if (_gb[id].state != IModelLedger.BlockState.Pending) _violation("a decided block was decided again", "");
        ++_gb[id].closes;
    }

    function _onMembershipProposed(Vm.Log memory log) internal {
        uint256 id = uint256(log.topics[1]);
        (, , uint8 electorate,,) = abi.decode(log.data, (bytes32, bool, uint8, uint32, uint32));
        if (electorate != _replay.length) _violation("membership electorate is not the validator count", "");
        _gp[id].electorate = electorate;
        _gp[id].state = ICoalition.ProposalState.Pending;
    }

    function _onMembershipVoted(Vm.Log memory log) internal {
        uint256 id = uint256(log.topics[1]);
        address v = address(uint160(uint256(log.topics[2])));
        bool support = abi.decode(log.data, (bool));
        if (_memVoted[id][v]) _violation("membership vote counted twice", "");
        if (_gp[id].state != ICoalition.ProposalState.Pending) _violation("membership vote on a decided proposal", "");
        _memVoted[id][v] = true;
        if (support) ++_gp[id].ayes;
        else ++_gp[id].nays;
    }

    function _onMembershipDecided(Vm.Log memory log) internal {
        uint256 id = uint256(log.topics[1]);
        ICoalition.ProposalState state = abi.decode(log.data, (ICoalition.ProposalState));
        ICoalition.ProposalState before = _gp[id].state;
        uint256 n = _gp[id].electorate;
        uint256 t = threshold(n);
        if (state == ICoalition.ProposalState.Rejected) {
            if (before != ICoalition.ProposalState.Pending || _gp[id].nays != n - t + 1) _violation("membership rejected off the edge", "");
        } else if (state == ICoalition.ProposalState.Approved || before == ICoalition.ProposalState.Pending) {
            if (before != ICoalition.ProposalState.Pending || _gp[id].ayes != t) _violation("membership passed without exactly 2n/3 ayes", "");
        } else if (!(state == ICoalition.ProposalState.Executed && before == ICoalition.ProposalState.Approved)) {
            _violation("membership decided twice", "");
        }
        _gp[id].state = state;
    }

    // ================================================================ helpers

    function _begin() internal {
        vm.warp(ghostTime); // the handler owns the clock
        vm.recordLogs();
    }

    function _warp(uint256 dt) internal {
        ghostTime += dt;
        vm.warp(ghostTime);
    }

    function _fresh() internal returns (bytes32) {
        return keccak256(abi.encode("handler", ++_nonce));
    }

    function _validatorAt(uint256 i) internal pure returns (address) {
        return address(uint160(0x1000 + i));
    }

    function _memberAt(uint256 i) internal pure returns (address) {
        return address(uint160(0x2000 + i));
    }

    function _pickMember(uint256 seed) internal view returns (address) {
        for (uint256 i = 0; i < MEMBER_POOL; ++i) {
            address m = _memberAt((seed % MEMBER_POOL + i) % MEMBER_POOL);
            if (ledger.hasRole(MEMBER, m)) return m;
        }
        return _memberAt(0);
    }

    function _pickValidator(uint256 seed) internal view returns (address) {
        address[] memory vs = ledger.validators();
        return vs[seed % vs.length];
    }

    /// @dev A random non-empty ascending subset (at most 5) of the updates trained on the head.
    function _pickUpdates(uint256 seed) internal view returns (uint64[] memory ids) {
        uint64[] storage all = _updatesOn[ghostHead];
        uint256 len = all.length;
        uint256 start = len > 5 ? seed % (len - 4) : 0;
        uint256 end = start + (len - start < 5 ? len - start : 5);
        uint256 mask = (seed >> 16) | 1;
        uint256 count;
        for (uint256 i = start; i < end; ++i) if ((mask >> (i - start)) & 1 == 1) ++count;
        ids = new uint64[](count);
        count = 0;
        for (uint256 i = start; i < end; ++i) if ((mask >> (i - start)) & 1 == 1) ids[count++] = all[i];
    }

    function _proposeCall(uint64[] memory ids, uint32 round) internal returns (bytes memory) {
        return abi.encodeCall(ModelLedger.propose, (ghostHead, _fresh(), 0, ids, round, 0));
    }

    /// @dev Calls the ledger as `who` and records a violation unless it reverts with `selector`.
    function _expectFailure(address who, bytes memory data, bytes4 selector) internal {
        _sync(); // keep what happened so far, then drop whatever the refused call logged
        vm.prank(who);
        (bool ok, bytes memory err) = address(ledger).call(data);
        if (!ok) vm.getRecordedLogs();
        ++refusalsChecked;
        if (ok) _violation("a call the rules refuse succeeded", data);
        else if (_selector(err) != selector) _violation("refused with an unexpected error", err);
    }

    /// @dev forge records the logs of calls that later reverted: drop them.
    function _discard() internal {
        vm.getRecordedLogs();
    }

    function _selector(bytes memory err) internal pure returns (bytes4 sel) {
        if (err.length >= 4) sel = bytes4(err);
    }

    function _violation(string memory what, bytes memory detail) internal {
        if (violations == 0) firstViolation = string.concat(what, " ", _hex(detail));
        ++violations;
    }

    function _hex(bytes memory raw) internal pure returns (string memory) {
        bytes16 digits = "0123456789abcdef";
        uint256 len = raw.length > 40 ? 40 : raw.length;
        bytes memory out = new bytes(len * 2);
        for (uint256 i = 0; i < len; ++i) {
            out[2 * i] = digits[uint8(raw[i]) >> 4];
            out[2 * i + 1] = digits[uint8(raw[i]) & 0x0f];
        }
        return string(out);
    }
}

/// @notice The ledger's global properties, checked after every handler call.
contract InvariantTest is LedgerFixture {
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    LedgerHandler internal handler;

    function setUp() public {
        vm.warp(1_000_000);
        deployLedger(4, 3);
        handler = new LedgerHandler(ledger, ledger.validators());
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    function targetSelectors() public view returns (FuzzSelector[] memory targets) {
        bytes4[] memory s = new bytes4[](13);
        s[0] = LedgerHandler.registerUpdate.selector;
        s[1] = LedgerHandler.propose.selector;
        s[2] = LedgerHandler.propose.selector;
        s[3] = LedgerHandler.vote.selector;
        s[4] = LedgerHandler.vote.selector;
        s[5] = LedgerHandler.vote.selector;
        s[6] = LedgerHandler.warpAndExpire.selector;
        s[7] = LedgerHandler.warpAndRedraw.selector;
        s[8] = LedgerHandler.proposeMembership.selector;
        s[9] = LedgerHandler.voteMembership.selector;
        s[10] = LedgerHandler.voteMembership.selector;
        s[11] = LedgerHandler.executeMembership.selector;
        s[12] = LedgerHandler.renounceValidator.selector;
        targets = new FuzzSelector[](1);
        targets[0] = FuzzSelector(address(handler), s);
    }

    /// @notice Every check the handler made on events and refusals held (and the handler owns
    ///         the clock: its warps persist between calls, which the checks below rely on).
    function invariant_handlerFoundNoViolation() public view {
        if (handler.violations() != 0) fail(handler.firstViolation());
        assertEq(block.timestamp, handler.ghostTime(), "block time == handler time");
        assertEq(handler.withheldEvents(), handler.withheld(), "RevealWithheld exactly when a commitment was withheld");
    }

    /// @notice The head is the last block that reached ⌈2n/3⌉ accepts on top of the previous head.
    function invariant_headOnlyMovesToQuorumBlockOnHead() public view {
        uint64 h = head();
        assertEq(h, handler.ghostHead(), "head == last BlockFinalized");
        uint256 len = handler.headsLength();
        assertEq(handler.headAt(len - 1), h, "head history ends at head");
        IModelLedger.Block memory b = ledger.blockInfo(h);
        assertTrue(b.state == IModelLedger.BlockState.Final, "head is final");
        if (h != 1) {
            assertEq(b.accepts, ceilTwoThirds(b.electorate), "head reached exactly 2n/3 accepts");
            assertEq(b.parent, handler.headAt(len - 2), "head's parent was the head before");
        }
    }

    /// @notice From the head, parent links lead to genesis through final blocks only, and that
    ///         chain is exactly the sequence of heads.
    function invariant_lineageIsChainOfFinals() public view {
        uint64 cur = head();
        uint256 i = handler.headsLength();
        uint64 count = blockCount();
        for (uint256 steps = 0; cur != 0; ++steps) {
            assertLe(steps, count, "lineage too long (cycle)");
            assertTrue(i > 0, "lineage longer than head history");
            assertEq(cur, handler.headAt(--i), "lineage == head history");
            IModelLedger.Block memory b = ledger.blockInfo(cur);
            assertTrue(b.state == IModelLedger.BlockState.Final, "lineage block final");
            if (cur != 1) assertLt(b.parent, cur, "parent older than child");
            cur = b.parent;
        }
        assertEq(i, 0, "lineage reaches genesis");
    }

    /// @notice No vote counts twice: stored counts equal the distinct voters seen in events and
    ///         never exceed the electorate; an undecided block is below both edges.
    function invariant_votesCountOnce() public view {
        uint64 count = blockCount();
        LedgerHandler.GhostBlock[] memory ghost = handler.ghostBlocks();
        assertEq(count + 1, ghost.length, "block count");
        for (uint64 id = 2; id <= count; ++id) {
            IModelLedger.Block memory b = ledger.blockInfo(id);
            LedgerHandler.GhostBlock memory g = ghost[id];
            assertEq(b.accepts, g.accepts, "accepts == accept votes seen");
            assertEq(b.rejects, g.rejects, "rejects == reject votes seen");
            assertEq(uint256(b.accepts) + b.rejects, g.voters, "accepts + rejects == distinct voters");
            assertLe(uint256(b.accepts) + b.rejects, b.electorate, "votes <= electorate");
            assertEq(b.electorate, g.electorate, "electorate");
            assertEq(_popcount(b.votedSeats), g.voters, "one seat bit per voter");
            uint256 t = ceilTwoThirds(b.electorate);
            if (b.state == IModelLedger.BlockState.Pending || b.state == IModelLedger.BlockState.Expired) {
                assertLt(b.accepts, t, "undecided below threshold");
                assertLe(b.rejects, b.electorate - t, "undecided within tolerated rejects");
            }
        }
    }

    /// @notice Final, Rejected and Expired are terminal and exclusive: each block's state is the
    ///         one its single closing event set, and at most the open block is pending.
    function invariant_terminalStatesAreExclusive() public view {
        uint64 count = blockCount();
        (, uint64 open,,) = ledger.cursor();
        LedgerHandler.GhostBlock[] memory ghost = handler.ghostBlocks();
        assertEq(count + 1, ghost.length, "block count");
        for (uint64 id = 2; id <= count; ++id) {
            IModelLedger.BlockState s = ledger.blockInfo(id).state;
            LedgerHandler.GhostBlock memory g = ghost[id];
            if (g.state == IModelLedger.BlockState.Pending) {
                assertEq(g.closes, 0, "pending block has no closing event");
                assertEq(id, open, "the only pending block is the open one");
                assertTrue(s == IModelLedger.BlockState.Pending || s == IModelLedger.BlockState.Expired, "pending or lapsed");
            } else {
                assertEq(g.closes, 1, "exactly one closing event");
                assertTrue(s == g.state, "state is the one its closing event set");
                assertTrue(id != open, "a closed block is not open");
            }
        }
        if (open != 0) assertEq(open, count, "the open block is the newest");
    }

    /// @notice The draw: seed recomputed from the handler's reveals, validator list replayed from
    ///         seat events, and the current general a seated validator.
    function invariant_drawIsRecomputable() public view {
        assertEq(ledger.seed(), handler.expectedSeed(), "seed == genesis seed mixed with every reveal");
        assertEq(ledger.validators(), handler.replay(), "validators == replay of seat events");
        (uint32 r, uint32 a, address g,) = ledger.currentRound();
        assertEq(r, handler.ghostRound(), "round");
        assertEq(a, handler.ghostAttempt(), "attempt");
        assertEq(g, handler.ghostGeneral(), "general == last RoundOpened");
        assertTrue(ledger.seatOf(g) != 0, "the general is a current validator");
        address[] memory vs = ledger.validators();
        for (uint256 i = 0; i < vs.length; ++i) assertEq(ledger.seatOf(vs[i]), i + 1, "seatOf");
    }

    /// @notice Membership votes count once and decisions follow the 2/3 rule.
    function invariant_membershipCountsOnce() public view {
        (uint256[] memory ids, LedgerHandler.GhostProposal[] memory ghost) = handler.ghostProposals();
        for (uint256 i = 0; i < ids.length; ++i) {
            ICoalition.MembershipProposal memory p = ledger.membershipProposal(ids[i]);
            assertEq(p.ayes, ghost[i].ayes, "ayes == aye votes seen");
            assertEq(p.nays, ghost[i].nays, "nays == nay votes seen");
            assertEq(p.electorate, ghost[i].electorate, "electorate");
            assertLe(uint256(p.ayes) + p.nays, p.electorate, "votes <= electorate");
            uint256 t = ceilTwoThirds(p.electorate);
            if (p.state == ICoalition.ProposalState.Executed || p.state == ICoalition.ProposalState.Approved) {
                assertEq(p.ayes, t, "passed at exactly 2n/3");
                assertTrue(p.state == ghost[i].state, "state set by its decision event");
            } else if (p.state == ICoalition.ProposalState.Rejected) {
                assertEq(p.nays, p.electorate - t + 1, "rejected at the edge");
                assertTrue(ghost[i].state == ICoalition.ProposalState.Rejected, "state set by its decision event");
            } else {
                assertLt(p.ayes, t, "undecided below threshold");
                assertLe(p.nays, p.electorate - t, "undecided within tolerated nays");
                assertTrue(ghost[i].state == ICoalition.ProposalState.Pending, "no decision event");
            }
        }
    }

    function _popcount(uint128 x) private pure returns (uint256 c) {
        for (; x != 0; x &= x - 1) ++c;
    }
}
