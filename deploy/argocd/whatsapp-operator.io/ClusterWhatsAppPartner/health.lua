-- Argo CD health check for whatsapp-operator.io/ClusterWhatsAppPartner (cluster-scoped).
--
-- Same status as WhatsAppPartner (docs/gitops.md): status.observedGeneration plus the
-- conditions Ready, Reconciling and Stalled, each with observedGeneration. Mapped the way
-- kstatus (Flux) maps it, so Argo CD and Flux agree: Stalled=True (partner token
-- rejected, Secret missing, spec.apiUrl outside the operator's allow-list, a spec the
-- operator cannot read) is Degraded, Reconciling=True (GREEN-API unreachable, retrying)
-- and Ready not True are Progressing, Ready=True is Healthy.
local hs = {}

local function condition(kind)
  -- A numeric loop, not ipairs: scripts pasted into argocd-cm run without the Lua
  -- standard libraries unless resource.customizations.useOpenLibs is set.
  local conditions = obj.status.conditions
  for i = 1, #conditions do
    if conditions[i].type == kind then
      return conditions[i]
    end
  end
  return nil
end

local function text(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return fallback
end

if obj.status == nil or obj.status.conditions == nil or #obj.status.conditions == 0 then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator"
  return hs
end

if obj.metadata.generation ~= nil and obj.status.observedGeneration ~= nil
    and obj.metadata.generation ~= obj.status.observedGeneration then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe the latest spec"
  return hs
end

local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = text(stalled, stalled.reason)
  return hs
end

local reconciling = condition("Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = text(reconciling, reconciling.reason)
  return hs
end

local ready = condition("Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = text(ready, "Ready")
  return hs
end

hs.status = "Progressing"
hs.message = text(ready, "Waiting for the operator")
return hs
