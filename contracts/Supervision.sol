// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Coalition} from "./Coalition.sol";
import {ISupervision} from "./interfaces/ISupervision.sol";

/// @title Mode C's records, kept beside the coalition's roles
/// @notice Only a supervisor issues contexts and copies and answers decryption requests; any
///         participant may ask for a decryption. Each record is an event (what an auditor reads)
///         plus the least state the next check needs: a participant's context fingerprint, a
///         request's asker and whether it was answered.
///         Types, events and errors are declared, and documented, once in `ISupervision`.
abstract contract Supervision is Coalition, ISupervision {
    struct Request {
        address requester;
        bool answered;
    }

    /// @inheritdoc ISupervision
    mapping(address participant => bytes32 fingerprint) public contextOf;
    /// @inheritdoc ISupervision
    uint64 public requestCount;
    mapping(uint64 id => Request) private _requests;

    modifier onlySupervisor() {
        if (mode != Mode.C) revert NotModeC();
        if (!hasRole(SUPERVISOR_ROLE, msg.sender)) revert NotSupervisor(msg.sender);
        _;
    }

    /// @inheritdoc ISupervision
    function issueContext(address participant, bytes32 fingerprint, bytes32 cidDigest) external onlySupervisor {
        if (!isParticipant(participant)) revert NotParticipant(participant);
        if (fingerprint == bytes32(0) || cidDigest == bytes32(0)) revert EmptyRecord();
        contextOf[participant] = fingerprint;
        emit ContextIssued(participant, msg.sender, fingerprint, cidDigest);
    }

    /// @inheritdoc ISupervision
    function issueCopies(
        uint64 blockId,
        address[] calldata participants,
        bytes32[] calldata copyHashes,
        bytes32[] calldata cidDigests
    ) external onlySupervisor {
        if (!_blockExists(blockId)) revert NoSuchBlock(blockId);
        uint256 n = participants.length;
        if (copyHashes.length != n || cidDigests.length != n) revert LengthMismatch();
        for (uint256 i = 0; i < n; ++i) {
            bytes32 fingerprint = contextOf[participants[i]];
            if (fingerprint == bytes32(0)) revert NoContext(participants[i]);
            if (copyHashes[i] == bytes32(0) || cidDigests[i] == bytes32(0)) revert EmptyRecord();
            emit CopyIssued(blockId, participants[i], copyHashes[i], cidDigests[i], fingerprint);
        }
    }

    /// @inheritdoc ISupervision
    function requestDecryption(bytes32 purpose, uint64 blockId, bytes32 cidDigest) external returns (uint64 requestId) {
        if (mode != Mode.C) revert NotModeC();
        if (!isParticipant(msg.sender)) revert NotParticipant(msg.sender);
        if (!_blockExists(blockId)) revert NoSuchBlock(blockId);
        if (cidDigest == bytes32(0)) revert EmptyRecord();
        requestId = ++requestCount;
        _requests[requestId] = Request({requester: msg.sender, answered: false});
        emit DecryptionRequested(requestId, msg.sender, purpose, blockId, cidDigest);
    }

    /// @inheritdoc ISupervision
    function answerDecryption(uint64 requestId, bytes32 inputHash, bytes32 answerCid) external onlySupervisor {
        Request storage r = _requests[requestId];
        if (r.requester == address(0)) revert UnknownRequest(requestId);
        if (r.answered) revert AlreadyAnswered(requestId);
        if (inputHash == bytes32(0) || answerCid == bytes32(0)) revert EmptyRecord();
        r.answered = true;
        emit Decrypted(requestId, msg.sender, inputHash, answerCid);
    }

    /// @inheritdoc ISupervision
    function decryptionRequest(uint64 requestId) external view returns (address requester, bool answered) {
        Request memory r = _requests[requestId];
        return (r.requester, r.answered);
    }

    /// @dev Whether block `blockId` exists (the ledger knows).
    function _blockExists(uint64 blockId) internal view virtual returns (bool);
}
