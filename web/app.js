"use strict";
(function(){
var S={
en:{findings:"Open findings",assets:"Assets",gateway:"Gateway",ok:"Gateway OK",degraded:"Gateway degraded",offline:"Gateway unreachable",unknown:"Connecting…",
updated:"updated",lost:"Offline, data from",
login:"Log in",user:"User name",pass:"Password",signin:"Log in",badLogin:"Wrong user name or password.",logout:"Log out",signedAs:"Signed in as",
ack:"Acknowledge",acked:"Acknowledged",ackedBy:"Acknowledged by",notes:"Field notes",addNote:"Add note",notePh:"What did you find on site?",photo:"Add photo",
trend:"Trend",baseline:"Baseline",bl_learning:"learning",bl_ready:"ready",bl_stale:"stale, re-learn it",samples:"samples",trends:"Show trends",hideTrends:"Hide trends",noTrend:"No history yet.",
ask:"Search references",askGo:"Search",askNA:"Search is not available on this gateway.",askNone:"No passage found.",askAsset:"Asset the question is about",nearest:"nearest match",
k_acknowledged:"acknowledged",never:"Connection lost, no data received yet",apierr:"Server error",
noFind:"No open findings.",loading:"Loading…",first:"First seen",last:"Last seen",show:"Show evidence and references",hide:"Hide details",
evidence:"Evidence",derived:"Derived",criterion:"Criterion",version:"version",action:"Recommended action",citations:"References",
history:"History",edition:"edition",clause:"Clause",conv:"Edge convention",ref:"Ref",
verified:"✓ verified",secondary:"⚠ secondary sources",model:"◆ model",
vx_verified:"Two or more public sources agree.",vx_secondary:"Only secondary sources: check before relying on it.",vx_model:"Statistical model, not a standard.",
critical:"Critical",high:"High",medium:"Medium",low:"Low",none:"Normal",open:"open",
fault:"Fault",normal:"Normal",abstain:"Abstains",
r_no_data:"No data",r_stale:"Data too old",r_bad_quality:"Bad data quality",r_insufficient_data:"Not enough data yet",
r_below_applicability:"Below applicability",r_out_of_domain:"Outside valid range",r_not_running:"Machine not running",r_model_unavailable:"Model unavailable",
c_transformer:"Transformer",c_pump_skid:"Pump skid",
q_comm_error:"comm error",q_decode_error:"decode error",q_exception:"device exception",q_out_of_range:"out of range",q_stale:"stale",q_uncertain:"uncertain",q_bad:"bad (publisher)",q_inexact:"inexact (64-bit)",
version_:"Version",uptime:"Uptime",sources:"Sources",models:"Models",store:"Store",samples:"samples",connected:"connected",disconnected:"DISCONNECTED",
errors:"errors",threshold:"threshold",modelErrors:"Model errors",disabled:"Disabled criteria",lastEval:"Last evaluation",
k_opened:"opened",k_changed:"changed",k_cleared:"cleared",k_escalated:"escalated",none_:"none",
r_imprecise:"Inputs only known as bounds",r_methods_disagree:"Methods disagree",methods:"Methods",
ro_primary:"primary",ro_confirmation:"confirms",ro_level:"levels",ro_supplementary:"remark",ro_criterion:"criterion",
agree_true:"agrees",agree_false:"disagrees",vk_diagnosis:"Diagnosis",vk_normal:"Normal",vk_methods_disagree:"Methods disagree: no diagnosis",vk_insufficient:"Not enough evidence",
confirmedBy:"confirmed by",of_:"of",next:"Next step",
signedOut:"Not signed in",dataFrom:"Data from",ago:"ago",nodata:"No data",unknownSt:"Unknown",abstainN:"of the criteria abstain",queue:"Waiting to send",queuedAck:"Acknowledgement",queuedNote:"Note",queuedPhoto:"Photo note",sending:"sending…",sendFail:"Not sent",discard:"Discard",comment:"Comment (optional)",uploading:"Uploading photo",resizing:"Preparing photo…",all:"← All assets",openPage:"Open page",print:"Print",share:"Share link",report:"Finding report",cleared:"Cleared findings",noCleared:"No cleared findings.",st_open:"open",st_cleared:"cleared",notFound:"Not found.",sec:"s",mins:"min",hrs:"h",ok_:"OK",error_:"ERROR",days:"d",photoErr:"The photo could not be read",limit:"limit",qr:"QR code",qrFor:"Scan to open this asset",clearedOn:"cleared",queuedOffline:"Saved on this phone; sent when the gateway is reachable.",findingOf:"Finding",trendRange:"last"},
zh:{findings:"未处理的发现",assets:"设备",gateway:"网关",ok:"网关正常",degraded:"网关降级",offline:"网关无法连接",unknown:"正在连接…",
updated:"更新于",lost:"离线，数据截至",
login:"登录",user:"用户名",pass:"密码",signin:"登录",badLogin:"用户名或密码错误。",logout:"退出登录",signedAs:"当前用户",
ack:"确认",acked:"已确认",ackedBy:"确认人",notes:"现场记录",addNote:"添加记录",notePh:"现场发现了什么？",photo:"添加照片",
trend:"趋势",baseline:"基线",bl_learning:"学习中",bl_ready:"就绪",bl_stale:"已过期，请重新学习",samples:"个样本",trends:"查看趋势",hideTrends:"收起趋势",noTrend:"暂无历史数据。",
ask:"查询标准依据",askGo:"查询",askNA:"此网关不支持查询。",askNone:"未找到相关条文。",askAsset:"提问针对的设备",nearest:"最接近的结果",
k_acknowledged:"已确认",never:"连接中断，尚未收到数据",apierr:"服务器错误",
noFind:"当前没有未处理的发现。",loading:"加载中…",first:"首次发现",last:"最近一次",show:"查看证据与依据",hide:"收起详情",
evidence:"证据",derived:"推导值",criterion:"判据",version:"版本",action:"建议措施",citations:"引用依据",
history:"历史",edition:"版次",clause:"条款",conv:"边界取值约定",ref:"依据",
verified:"✓ 已核实",secondary:"⚠ 二手来源",model:"◆ 模型",
vx_verified:"两个及以上公开来源一致。",vx_secondary:"仅有二手来源：使用前请核对。",vx_model:"统计模型，不是标准。",
critical:"紧急",high:"高",medium:"中",low:"低",none:"正常",open:"项未处理",
fault:"故障",normal:"正常",abstain:"不作判断",
r_no_data:"无数据",r_stale:"数据过旧",r_bad_quality:"数据质量差",r_insufficient_data:"数据尚不足",
r_below_applicability:"低于适用范围",r_out_of_domain:"超出有效范围",r_not_running:"机器未运行",r_model_unavailable:"模型不可用",
c_transformer:"变压器",c_pump_skid:"泵组",
q_comm_error:"通信错误",q_decode_error:"解码错误",q_exception:"设备异常码",q_out_of_range:"超出有效范围",q_stale:"数据过期",q_uncertain:"不确定",q_bad:"坏值（发布方标记）",q_inexact:"不精确（64 位整数）",
version_:"版本",uptime:"运行时长",sources:"数据源",models:"模型",store:"存储",samples:"个样本",connected:"已连接",disconnected:"未连接",
errors:"错误",threshold:"阈值",modelErrors:"模型错误",disabled:"已停用的判据",lastEval:"最近评估",
k_opened:"开启",k_changed:"变化",k_cleared:"清除",k_escalated:"升级",none_:"无",
r_imprecise:"输入仅知上限",r_methods_disagree:"各方法结论不一致",methods:"各方法结论",
ro_primary:"主方法",ro_confirmation:"印证",ro_level:"含量",ro_supplementary:"补充",ro_criterion:"判据",
agree_true:"一致",agree_false:"不一致",vk_diagnosis:"诊断",vk_normal:"正常",vk_methods_disagree:"各方法结论不一致：不作诊断",vk_insufficient:"证据不足",
confirmedBy:"印证",of_:"/",next:"下一步",
signedOut:"未登录",dataFrom:"数据截至",ago:"前",nodata:"无数据",unknownSt:"未知",abstainN:"项判据不作判断",queue:"待发送",queuedAck:"确认",queuedNote:"记录",queuedPhoto:"照片记录",sending:"发送中…",sendFail:"未发送",discard:"放弃",comment:"备注（可选）",uploading:"正在上传照片",resizing:"正在处理照片…",all:"← 全部设备",openPage:"打开页面",print:"打印",share:"分享链接",report:"发现报告",cleared:"已清除的发现",noCleared:"没有已清除的发现。",st_open:"未处理",st_cleared:"已清除",notFound:"未找到。",sec:"秒",mins:"分钟",hrs:"小时",ok_:"正常",error_:"错误",days:"天",photoErr:"无法读取照片",limit:"限值",qr:"二维码",qrFor:"扫码打开此设备",clearedOn:"清除于",queuedOffline:"已保存在本机；网关可连接时发送。",findingOf:"发现",trendRange:"最近"}};
var RANK={critical:4,high:3,medium:2,low:1};
// Polling is light and stops while the tab is hidden. While the event stream is live it
// carries the assets' values (as deltas) and the findings' revision: the findings list is
// fetched when that moves, else once a minute; assets not at all; health and baselines
// every 30 s. Without the stream (or 60 s without an event) every list is polled each 10 s.
var POLL_FIND=10000,POLL_HEALTH=30000,POLL_SLOW=60000,LIVE_FRESH=60000,LIVE_S=15,TIMEOUT=20000,MAXD=1600,MAXB=1500000;
var lang=null;
try{lang=localStorage.getItem("edgecite.lang")}catch(e){}
if(lang!=="en"&&lang!=="zh")lang=/^zh/i.test(navigator.language||"")?"zh":"en";
var st={health:null,assets:null,findings:null,details:{},notes:{},hist:{},cleared:{},okAt:null,liveAt:null,err:null,auth:null,me:null,queue:[],progress:{},healthAt:0,findAt:0,baseAt:0,frev:null,frevSeen:null};
// The signed-in user is kept on the phone, so that offline the app still knows who may write.
try{st.me=JSON.parse(localStorage.getItem("edgecite.me")||"null")}catch(e){}
var trendsOpen={},open={};
try{(JSON.parse(sessionStorage.getItem("edgecite.open")||"[]")).forEach(function(k){open[k]=1})}catch(e){}
function t(k){var v=S[lang][k];return v===undefined?(S.en[k]===undefined?k:S.en[k]):v}
function $(id){return document.getElementById(id)}
// Build elements with textContent only: API strings are never parsed as HTML.
function h(tag,attrs){var e=document.createElement(tag),i,c;
 if(attrs)for(var k in attrs){var v=attrs[k];if(v==null||v===false)continue;
  if(k==="cls")e.className=v;else if(k==="on")e.addEventListener("click",v);else e.setAttribute(k,v===true?"":String(v))}
 for(i=2;i<arguments.length;i++){c=arguments[i];add(e,c)}return e}
function add(e,c){if(c==null||c===false)return;if(Array.isArray(c)){c.forEach(function(x){add(e,x)});return}
 e.appendChild(typeof c==="object"?c:document.createTextNode(String(c)))}
function pad(n){return(n<10?"0":"")+n}
function hms(d){return pad(d.getHours())+":"+pad(d.getMinutes())+":"+pad(d.getSeconds())}
function hm(d){return pad(d.getHours())+":"+pad(d.getMinutes())}
function tm(s){if(!s)return"—";var d=new Date(s);if(isNaN(d))return String(s);var n=new Date();
 return (d.toDateString()===n.toDateString()?"":(d.getFullYear()!==n.getFullYear()?d.getFullYear()+"-":"")+pad(d.getMonth()+1)+"-"+pad(d.getDate())+" ")+hms(d)}
function age(d){var s=Math.max(0,Math.round((Date.now()-d)/1000));
 return s<120?s+" "+t("sec"):s<7200?Math.round(s/60)+" "+t("mins"):s<172800?Math.round(s/3600)+" "+t("hrs"):Math.round(s/86400)+" "+t("days")}
function num(v){if(v==null||typeof v!=="number"||!isFinite(v))return"—";var a=Math.abs(v);
 var d=a>=1000?0:a>=10?1:a>=1?2:a===0?0:3;return v.toFixed(d)}
function unit(u){return u==="degC"?"°C":(u||"")}
function vu(v,u){u=unit(u);if(num(v)==="—")return"—";return num(v)+(u?(u==="%"?" %":" "+u):"")}
function sevName(s){return RANK[s]?t(s):t("none")}
function L(o){if(!o)return"";if(typeof o==="string")return o;return o[lang]||o.en||o.zh||""}
// A text field in the current language: its `_i18n` pair, else `_zh` beside it, else as sent.
function LT(o,k){if(!o)return"";if(o[k+"_i18n"])return L(o[k+"_i18n"]);return lang==="zh"&&o[k+"_zh"]||L(o[k])}
function Q(p){return p+(p.indexOf("?")<0?"?":"&")+"lang="+lang}
function qflag(q){if(!q||q==="good")return null;var k=/^exception/.test(q)?"q_exception":"q_"+q;
 return h("span",{cls:"q"},S[lang][k]?t(k)+(k==="q_exception"?" "+q.split(":")[1]:""):q)}
function vbadge(v){var k=v==="verified"||v==="secondary"||v==="model"?v:null;
 return h("span",{cls:"vb v-"+(k||"secondary"),"data-testid":"verification","data-verification":v||"",title:k?t("vx_"+k):""},k?t(k):String(v||"?"))}
function labels(){var m={};(st.assets||[]).forEach(function(a){(a.values||[]).forEach(function(v){m[a.id+"|"+v.role]=v})});return m}
function lab(m,asset,role){var v=m[asset+"|"+role];return v?(lang==="zh"?v.label_zh||v.label_en:v.label_en||v.label_zh)||role:role}
function assetName(id){var a=(st.assets||[]).filter(function(x){return x.id===id})[0];return a?id+" · "+a.name:id}
function rid(){var b=new Uint8Array(16);(window.crypto||{}).getRandomValues?crypto.getRandomValues(b):b.forEach(function(_,i){b[i]=Math.random()*256|0});
 return Array.prototype.map.call(b,function(x){return(x<16?"0":"")+x.toString(16)}).join("")}

// --- addresses: #/ (all), #/assets/<id>, #/findings/<id> -------------------------------
var view={kind:"home"};
function parseRoute(){var m=/^#\/(assets|findings)\/([^/?]+)/.exec(location.hash||"");
 view=m?{kind:m[1]==="assets"?"asset":"finding",id:decodeURIComponent(m[2])}:{kind:"home"};
 if(view.kind==="finding"){open[view.id]=1;loadDetail(view.id)}
 if(view.kind==="asset"){trendsOpen[view.id]=1;loadCleared(view.id)}
 window.scrollTo(0,0)}
window.addEventListener("hashchange",function(){parseRoute();render()});

// --- status of an asset: unknown is never shown as normal --------------------------------
function assetState(a){if(RANK[a.worst_severity])return a.worst_severity;
 var xs=a.assessments||[],vals=a.values||[],ok=xs.filter(function(x){return x.status==="normal"||x.status==="fault"}).length;
 if(ok)return"none";
 var any=vals.some(function(v){return v.value!=null&&(!v.quality||v.quality==="good")});return any?"unknown":"nodata"}
var AR={critical:6,high:5,medium:4,low:3,unknown:2,nodata:2,none:1};
function stateName(s){return s==="nodata"?t("nodata"):s==="unknown"?t("unknownSt"):sevName(s)}

function renderStatic(){document.documentElement.lang=lang==="zh"?"zh-CN":"en";
 $("lang").textContent=lang==="zh"?"EN":"中文";$("lang").setAttribute("aria-label",lang==="zh"?"Switch to English":"切换到中文");
 $("h-find").textContent=view.kind==="finding"?t("report"):t("findings");$("h-assets").textContent=t("assets");$("h-gw").textContent=t("gateway");
 $("h-ask").textContent=t("ask");$("askgo").textContent=t("askGo");$("h-login").textContent=t("login");$("l-user").textContent=t("user");
 $("l-pass").textContent=t("pass");$("login-go").textContent=t("signin");$("askq").setAttribute("aria-label",t("ask"));if($("askasset"))$("askasset").setAttribute("aria-label",t("askAsset"));
 var out=st.auth===false;$("login").hidden=!out;$("app").hidden=out;
 var home=view.kind==="home";$("nav").hidden=home||out;$("nav").textContent=t("all");
 // What is below the findings appears with the first data, not before: nothing on screen moves down.
 var ready=!!st.findings;["s-ask","gw"].forEach(function(i){$(i).hidden=!home||!ready});$("s-assets").hidden=view.kind==="finding"||!ready}

function renderHeader(){var hz=st.health;
 $("site").textContent=hz&&hz.site&&hz.site.name?hz.site.name:"edgecite";
 document.title=(view.kind==="asset"?view.id+" · ":view.kind==="finding"?t("findingOf")+" "+view.id+" · ":"")+(hz&&hz.site&&hz.site.name?hz.site.name+" · ":"")+"edgecite";
 var s=st.auth===false?"signedOut":st.err&&!st.err.api?"offline":st.err?"degraded":hz?((hz.status==="ok"||hz.status==="healthy")?"ok":"degraded"):"unknown";
 var p=$("health");p.className="pill p-"+(s==="signedOut"?"unknown":s);p.textContent=t(s);
 var last=st.liveAt&&st.okAt&&st.liveAt>st.okAt?st.liveAt:st.okAt;
 $("updated").textContent=last?t("updated")+" "+hms(last):"";
 var o=$("offline");
 // Old data is said to be old: the time and the age of the last good answer.
 if(st.err&&st.auth!==false){o.hidden=false;o.textContent=(st.err.api?t("apierr")+": "+st.err.msg+". ":"")+(st.okAt?t("lost")+" "+hm(st.okAt)+" ("+age(st.okAt)+" "+t("ago")+")":t("never"))}
 else o.hidden=true}

// --- finding cards: keyed; a card is updated in place and its form is never rebuilt -------
var cards={};
function cardSig(f){var id=String(f.id),d=st.details[id],v0=((f.evidence||{}).values||[])[0],hk=v0?f.asset+"|"+v0.role:"";
 return JSON.stringify([lang,f,!!open[id],d&&d.events,d&&d.acknowledged,st.notes[id],st.hist[hk]&&st.hist[hk].at,st.me,queued(id),view.kind,(st.assets||[]).length])}
function queued(id){return st.queue.filter(function(q){return String(q.finding)===String(id)}).map(function(q){return[q.cid,q.kind,!!q.err,st.progress[q.cid]]})}
function cardFor(f){var id=String(f.id),c=cards[id];
 if(!c){c=cards[id]={sig:null,el:h("article",{"data-testid":"finding","data-id":id}),top:h("div"),det:h("div",{"data-testid":"details"}),info:h("div"),dyn:h("div"),form:null};
  c.det.appendChild(c.info);c.det.appendChild(c.dyn);c.el.appendChild(c.top);c.el.appendChild(c.det)}
 c.f=f;var sig=cardSig(f);if(sig===c.sig)return c.el;c.sig=sig;
 var sev=RANK[f.severity]?f.severity:"none",ex=!!open[id],ak=f.acknowledged||(st.details[id]||{}).acknowledged,c0=(f.citations||[])[0],m=labels();
 c.el.className="card s-"+sev+(f.state==="cleared"?" cleared":"");
 [["data-code",f.code],["data-state",f.state],["data-severity",f.severity],["data-acked",ak?"true":"false"]].forEach(function(a){c.el.setAttribute(a[0],a[1]==null?"":a[1])});
 var top=h("div",null,
  h("div",{cls:"row"},h("span",{cls:"pill b-"+sev},sevName(f.severity)),f.state==="cleared"?h("span",{cls:"pill p-unknown"},t("st_cleared")):null,
   ak?h("span",{cls:"pill b-ack","data-testid":"acked-pill"},"✓ "+t("acked")):null,h("a",{cls:"asset",href:"#/assets/"+encodeURIComponent(f.asset)},assetName(f.asset))),
  h("div",{cls:"title"},LT(f,"title")),
  h("div",{cls:"row"},h("span",{cls:"code"},f.code),f.verification?vbadge(f.verification):null,f.verdict&&f.verdict.kind?h("span",{cls:"q","data-testid":"verdict"},f.verdict.kind.replace(/_/g," ")):null),
  h("div",{cls:"meta"},t("first")+" "+tm(f.first_seen)+" · "+t("last")+" "+tm(f.last_seen)+(f.cleared_at?" · "+t("clearedOn")+" "+tm(f.cleared_at):"")),
  c0?h("div",{cls:"ref","data-testid":"first-ref"},t("ref")+": ",h("b",null,c0.reference_id)," · ",LT(c0,"clause")):null,
  view.kind==="finding"?h("div",{cls:"row noprint"},h("button",{type:"button",cls:"xbtn sm","data-testid":"print",on:function(){window.print()}},t("print")),
   h("button",{type:"button",cls:"xbtn sm","data-testid":"share",on:function(){var u=location.href;
    if(navigator.share)navigator.share({title:document.title,url:u}).catch(function(){});else if(navigator.clipboard)navigator.clipboard.writeText(u).catch(function(){})}},t("share")))
  :h("div",{cls:"row"},h("button",{type:"button",cls:"xbtn grow","data-testid":"expand","aria-expanded":ex?"true":"false",on:function(){
   if(open[id])delete open[id];else open[id]=1;
   try{sessionStorage.setItem("edgecite.open",JSON.stringify(Object.keys(open)))}catch(e){}
   renderFindings();if(open[id])loadDetail(id)}},(ex?"▴ "+t("hide"):"▾ "+t("show"))),
   h("a",{cls:"xbtn sm lnk",href:"#/findings/"+id,"data-testid":"finding-link"},t("openPage"))));
 c.top.replaceWith(top);c.top=top;
 c.det.hidden=!ex;
 if(ex){c.info.replaceChildren(findingBody(f,m));c.dyn.replaceChildren(fieldDyn(f,ak));
  if(canWrite()&&!c.form)c.form=noteForm(id),c.det.appendChild(c.form.el);
  if(c.form)c.form.ack(!ak&&!st.queue.some(function(q){return q.kind==="ack"&&String(q.finding)===id}))}
 return c.el}

function TT(x){return x?(lang==="zh"?x.zh||x.en:x.en||x.zh):""}
/* A verdict's methods: each criterion of the domain with its own view (issue 12). */
function methodsList(list,vd){if(!list||!list.length)return null;
 return h("div",{cls:"sec","data-testid":"methods"},h("h3",null,t("methods")),
  vd?h("div",{cls:"det","data-testid":"verdict-kind","data-kind":vd.kind},t("vk_"+vd.kind)+(vd.kind==="diagnosis"&&vd.of?" · "+t("confirmedBy")+" "+vd.confirmed_by+" "+t("of_")+" "+vd.of:"")+(vd.next?" · "+t("next")+": "+TT(vd.next):"")):null,
  list.map(function(x){return h("div",{cls:"crit","data-testid":"method","data-criterion":x.criterion,"data-role":x.role,"data-status":x.status},
   h("div",{cls:"row"},h("span",{cls:"st st-"+x.status},S.en[x.status]?t(x.status):x.status),h("span",{cls:"ctl"},TT(x.title)),x.verification?vbadge(x.verification):null,
    h("span",{cls:"meta"},t("ro_"+x.role)),x.agrees!=null?h("span",{cls:"pill","data-testid":"agrees"},t("agree_"+x.agrees)):null),
   x.code?h("div",{cls:"code"},x.code+(x.family?" · "+x.family:"")):null,
   x.status==="abstain"&&x.reason?h("div",{cls:"det why"},S.en["r_"+x.reason]?t("r_"+x.reason):x.reason):null,
   h("div",{cls:"det","data-testid":"method-summary"},TT(x.summary)))}))}

function findingBody(f,m){var ev=f.evidence||{},id=String(f.id),cr=f.criterion||{};
 var body=h("div");
 body.appendChild(h("div",{cls:"sec"},h("h3",null,t("evidence")),
  h("table",null,h("tbody",null,(ev.values||[]).map(function(v){return h("tr",null,
   h("td",null,lab(m,f.asset,v.role),qflag(v.quality)),h("td",{cls:"n"},vu(v.value,v.unit)),h("td",{cls:"t"},tm(v.ts)))}))),
  (ev.derived||[]).length?h("div",{cls:"sec"},h("h3",null,t("derived")),h("table",null,h("tbody",null,ev.derived.map(function(d){
   return h("tr",null,h("td",null,LT(d,"name")),h("td",{cls:"n"},vu(d.value,LT(d,"unit"))))})))):null,
  ev.summary?h("div",{cls:"sum","data-testid":"summary"},LT(ev,"summary")):null));
 var ml=methodsList(ev.methods,ev.verdict);if(ml)body.appendChild(ml);
 var v0=(ev.values||[])[0];
 if(v0){var hk=f.asset+"|"+v0.role;body.appendChild(h("div",{cls:"sec","data-testid":"trend"},h("h3",null,t("trend")+" · "+lab(m,f.asset,v0.role)),chart(st.hist[hk],v0.unit)));loadHist(f.asset,v0.role)}
 body.appendChild(h("div",{cls:"sec"},h("h3",null,t("criterion")),
  h("div",null,h("span",{cls:"code"},cr.id||"")," · "+t("version")+" "+(cr.version||"")," ",cr.verification?vbadge(cr.verification):null),
  cr.title?h("div",{cls:"det","data-testid":"criterion-title"},LT(cr,"title")):null));
 body.appendChild(h("div",{cls:"sec"},h("h3",null,t("action")),h("div",{cls:"act"},LT(f,"recommended_action"))));
 body.appendChild(h("div",{cls:"sec"},h("h3",null,t("citations")),(f.citations||[]).map(function(c){
  return h("div",{cls:"cit c-"+c.verification,"data-testid":"citation","data-ref":c.reference_id},
   h("div",{cls:"row"},vbadge(c.verification),h("span",{cls:"vx"},S.en["vx_"+c.verification]?t("vx_"+c.verification):"")),
   h("p",{cls:"ct"},c.title),
   h("div",{cls:"meta"},h("b",{cls:"code"},c.reference_id),c.edition?" · "+t("edition")+" "+c.edition:""),
   h("div",{"data-testid":"clause"},h("b",null,t("clause")+": "),LT(c,"clause")),
   h("p",null,lang==="zh"?c.passage_zh||c.passage_en:c.passage_en||c.passage_zh),
   c.edge_convention?h("div",{cls:"conv"},h("b",null,t("conv")+": "),LT(c,"edge_convention")):null)})));
 var d=st.details[id];
 if(d&&d.events&&d.events.length)body.appendChild(h("div",{cls:"sec","data-testid":"history"},h("h3",null,t("history")),d.events.map(function(e){
  return h("div",{cls:"ev"},h("b",null,tm(e.ts)+" "+(S.en["k_"+e.kind]?t("k_"+e.kind):e.kind)+" "),h("span",{cls:"code"},e.code),e.severity?" ("+sevName(e.severity)+") ":" ",LT(e,"summary"))})));
 return body}

function canWrite(){return st.me&&(st.me.role==="technician"||st.me.role==="admin")}
// What was said about a finding: acknowledgement, notes, and what waits on this phone.
function fieldDyn(f,ak){var id=String(f.id),sec=h("div",{cls:"sec"});
 if(ak)sec.appendChild(h("div",{cls:"ackd","data-testid":"acked"},"✓ "+t("ackedBy")+" "+ak.by+" · "+tm(ak.at)+(ak.comment?" · "+ak.comment:"")));
 var ns=st.notes[id]||[];
 sec.appendChild(h("h3",{style:"margin-top:12px"},t("notes")));
 ns.forEach(function(n){sec.appendChild(h("div",{cls:"ev","data-testid":"note"},h("b",null,tm(n.at)+" "+n.by+": "),n.text,
  n.photo_url?h("div",null,h("img",{src:n.photo_url,alt:n.text||t("photo"),loading:"lazy",cls:"ph"})):null))});
 st.queue.filter(function(q){return String(q.finding)===id}).forEach(function(q){sec.appendChild(queueLine(q))});
 return sec}

// The note and acknowledge form of a finding: built once, kept while the page lives.
function noteForm(id){var ta=h("textarea",{rows:"2","data-testid":"note-text",placeholder:t("notePh"),"aria-label":t("notes"),maxlength:"4000"});
 var file=h("input",{type:"file",accept:"image/*","data-testid":"note-photo","aria-label":t("photo"),style:"border:0;padding:4px 0"});
 var cm=h("input",{type:"text","data-testid":"ack-comment",placeholder:t("comment"),"aria-label":t("comment"),maxlength:"4000"});
 var ab=h("button",{type:"button",cls:"xbtn on","data-testid":"ack",on:function(){ab.disabled=true;
  enqueue({kind:"ack",finding:id,comment:cm.value.trim()}).then(function(){cm.value=""},function(e){ab.disabled=false;showErr(e)})}},t("ack"));
 var ackBox=h("div",{"data-testid":"ack-box"},cm,ab);
 var add=h("button",{type:"button",cls:"xbtn","data-testid":"note-add",on:function(){
  var text=ta.value.trim(),ph=file.files&&file.files[0];if(!text&&!ph)return;
  // One tap, one note: the form empties at once, a second tap finds nothing to send.
  ta.value="";file.value="";add.disabled=true;
  var p=ph?shrink(ph).then(function(b){return enqueue({kind:"photo",finding:id,text:text,photo:b,type:b.type||ph.type})})
   :enqueue({kind:"note",finding:id,text:text});
  p.then(function(){add.disabled=false},function(e){add.disabled=false;ta.value=text;showErr(e)})}},t("addNote"));
 var el=h("div",{cls:"sec","data-testid":"note-form"},ackBox,ta,file,add);
 return {el:el,busy:function(){return!!(ta.value.trim()||cm.value.trim()||(file.files&&file.files.length)||el.contains(document.activeElement))},ack:function(show){if(!show&&ackBox.parentNode)ackBox.remove();else if(show&&!ackBox.parentNode)el.insertBefore(ackBox,ta);ab.disabled=false}}}

// A phone photo is made smaller on the phone: at most MAXD pixels a side, JPEG.
function decode(f){if(window.createImageBitmap)return createImageBitmap(f);
 return new Promise(function(res,rej){var u=URL.createObjectURL(f),i=new Image();i.onload=function(){res(i)};i.onerror=function(){rej(new Error(t("photoErr")))};i.src=u})}
function shrink(f){return decode(f).then(function(img){var w=img.width,hh=img.height,s=Math.min(1,MAXD/Math.max(w,hh));
 if(s===1&&f.size<=MAXB&&/^image\/(jpeg|png|webp)$/.test(f.type))return f;
 var c=document.createElement("canvas");c.width=Math.max(1,Math.round(w*s));c.height=Math.max(1,Math.round(hh*s));c.getContext("2d").drawImage(img,0,0,c.width,c.height);
 function enc(q){return new Promise(function(res,rej){c.toBlob(function(b){b?res(b):rej(new Error(t("photoErr")))},"image/jpeg",q)})}
 return enc(0.82).then(function(b){return b.size<=MAXB?b:enc(0.6)})},function(){if(f.size<=MAXB)return f;throw new Error(t("photoErr"))})}

// --- the queue of writes: IndexedDB, in order, one client id per action ---------------------
var DB=null;
function idb(){return DB||(DB=new Promise(function(res,rej){if(!window.indexedDB)return rej(new Error("no IndexedDB"));
 var q=indexedDB.open("edgecite",1);q.onupgradeneeded=function(){q.result.createObjectStore("queue",{keyPath:"seq",autoIncrement:true})};
 q.onsuccess=function(){res(q.result)};q.onerror=function(){rej(q.error)}}))}
function qop(mode,fn){return idb().then(function(db){return new Promise(function(res,rej){var tx=db.transaction("queue",mode),r=fn(tx.objectStore("queue"));
 tx.oncomplete=function(){res(r&&r.result)};tx.onerror=tx.onabort=function(){rej(tx.error)}})})}
function loadQueue(){return qop("readonly",function(s){return s.getAll()}).then(function(a){st.queue=a||[]},function(){})}
function enqueue(it){it.cid=rid();it.at=Date.now();it.user=st.me&&st.me.user;
 return qop("readwrite",function(s){return s.add(it)}).then(function(seq){it.seq=seq;st.queue.push(it);render();flush()})}
function dequeue(it){return qop("readwrite",function(s){return s.delete(it.seq)}).then(function(){st.queue=st.queue.filter(function(q){return q.seq!==it.seq})})}
function queueLine(q){var p=st.progress[q.cid];
 return h("div",{cls:"qi","data-testid":"queued","data-kind":q.kind,"data-state":q.err?"failed":p!=null?"sending":"waiting"},
  h("b",null,t(q.kind==="ack"?"queuedAck":q.kind==="photo"?"queuedPhoto":"queuedNote")+" · "+tm(new Date(q.at))+" "),q.text||q.comment||"",
  p!=null?h("div",null,t("uploading")+" ",h("progress",{max:"1",value:p.toFixed(2),"data-testid":"upload-progress"})," "+Math.round(p*100)+" %"):null,
  q.err?h("div",{cls:"err"},t("sendFail")+": "+q.err+" ",h("button",{type:"button",cls:"xbtn sm",on:function(){dequeue(q).then(render)}},t("discard"))):h("div",{cls:"meta"},t("queuedOffline")))}
function renderQueue(){var b=$("queue");b.hidden=!st.queue.length;if(!st.queue.length)return b.replaceChildren();
 b.replaceChildren(h("div",null,h("h3",null,t("queue")+" ("+st.queue.length+")"),st.queue.map(function(q){
  return h("div",null,h("a",{href:"#/findings/"+q.finding},t("findingOf")+" "+q.finding),queueLine(q))})))}
var flushing=false;
function flush(){if(flushing||!st.queue.length)return;flushing=true;var touched={},tried={};
 var items=st.queue.filter(function(q){return!q.err&&(!q.user||!st.me||q.user===st.me.user)});
 items.reduce(function(p,it){return p.then(function(go){if(!go)return false;touched[it.finding]=1;tried[it.seq]=1;
  return sendItem(it).then(function(){return dequeue(it).then(function(){return true})},function(e){
   delete st.progress[it.cid];
   if(e.auth){st.auth=false;return false}
   if(!e.api||e.status>=500||e.status===408||e.status===429)return false; // the link or the gateway: try again later
   it.err=e.message;return qop("readwrite",function(s){return s.put(it)}).then(function(){return true})})})},Promise.resolve(true))
 .then(function(ok){flushing=false;Object.keys(touched).forEach(loadDetail);render();
  // Added while this pass ran: send it now.
  if(ok&&st.queue.some(function(q){return!q.err&&!tried[q.seq]}))flush()},function(){flushing=false;render()})}
function apiErr(j,r){var e=new Error(j&&j.error?j.error.message:"HTTP "+r.status);e.api=true;e.status=r.status;if(r.status===401)e.auth=true;return e}
function sendItem(it){var base="/api/v1/findings/"+encodeURIComponent(it.finding);
 if(it.kind==="photo")return new Promise(function(res,rej){var x=new XMLHttpRequest();
  x.open("POST",base+"/photos?text="+encodeURIComponent(it.text||"")+"&client_id="+it.cid);x.setRequestHeader("Content-Type",it.type||"image/jpeg");
  st.progress[it.cid]=0;x.upload.onprogress=function(e){if(e.lengthComputable){st.progress[it.cid]=e.loaded/e.total;renderQueue();renderFindings()}};
  x.onload=function(){delete st.progress[it.cid];var j=null;try{j=JSON.parse(x.responseText)}catch(e){}
   if(x.status>=200&&x.status<300)res(j);else rej(apiErr(j,{status:x.status}))};
  x.onerror=x.ontimeout=function(){rej(new Error("network"))};x.timeout=120000;x.send(it.photo)});
 var body=it.kind==="ack"?{comment:it.comment||"",client_id:it.cid}:{text:it.text,client_id:it.cid};
 return fetch(base+(it.kind==="ack"?"/ack":"/notes"),{method:"POST",headers:{"Content-Type":"application/json",Accept:"application/json"},body:JSON.stringify(body)}).then(function(r){
  return r.text().then(function(s){var j=null;try{j=JSON.parse(s)}catch(e){}
   // Acknowledged meanwhile by someone else: the finding is acknowledged, nothing to resend.
   if(r.ok||(it.kind==="ack"&&r.status===409))return j;throw apiErr(j,r)})})}
window.addEventListener("online",function(){flush();poll(true)});
// Errors of a write are shown in the banner until the next successful poll.
function showErr(e){st.err={api:true,msg:e&&e.message?e.message:String(e)};render()}

// A small SVG trend with its axes: values (min..max band, average line), time range, limits.
function chart(hs,u){if(!hs||!hs.points)return h("div",{cls:"meta"},t("loading"));var p=hs.points;if(p.length<2)return h("div",{cls:"meta"},t("noTrend"));
 var W=300,H=90,X0=44,Y1=74,lo=Infinity,hi=-Infinity,t0=hs.from_ms,t1=hs.to_ms,lim=(hs.limits||[]);p.forEach(function(x){lo=Math.min(lo,x.min);hi=Math.max(hi,x.max)});
 lim.forEach(function(l){if(typeof l.value==="number"){lo=Math.min(lo,l.value);hi=Math.max(hi,l.value)}});
 if(hi===lo){hi+=1;lo-=1}function X(ms){return (X0+(ms-t0)/(t1-t0)*(W-X0-2)).toFixed(1)}function Y(v){return (Y1-(v-lo)/(hi-lo)*(Y1-6)).toFixed(1)}
 var NS="http://www.w3.org/2000/svg",svg=document.createElementNS(NS,"svg");svg.setAttribute("class","tr");svg.setAttribute("viewBox","0 0 "+W+" "+H);svg.setAttribute("role","img");
 function el(n,a,txt){var e=document.createElementNS(NS,n);for(var k in a)e.setAttribute(k,a[k]);if(txt!=null)e.textContent=txt;svg.appendChild(e);return e}
 el("path",{d:"M"+X0+",4V"+Y1+"H"+(W-2),cls:"ax","class":"ax"});
 el("text",{x:X0-3,y:10,"text-anchor":"end"},num(hi));el("text",{x:X0-3,y:Y1,"text-anchor":"end"},num(lo));
 el("text",{x:X0,y:H-2},hm(new Date(t0)));el("text",{x:W-2,y:H-2,"text-anchor":"end"},hm(new Date(t1)));
 var band=p.map(function(x){return X(x.t_ms)+","+Y(x.max)}).concat(p.slice().reverse().map(function(x){return X(x.t_ms)+","+Y(x.min)}));
 el("path",{d:"M"+band.join("L")+"Z","class":"band"});
 el("polyline",{points:p.map(function(x){return X(x.t_ms)+","+Y(x.avg)}).join(" ")});
 lim.forEach(function(l){if(typeof l.value!=="number")return;var y=Y(l.value);el("line",{x1:X0,x2:W-2,y1:y,y2:y,"class":"lim","data-testid":"limit"});el("text",{x:W-2,y:y-2,"text-anchor":"end","class":"limt"},(LT(l,"label")||t("limit"))+" "+num(l.value))});
 svg.setAttribute("aria-label",t("trend")+" "+vu(lo,u)+" – "+vu(hi,u));
 return h("div",null,svg,h("div",{cls:"meta"},vu(lo,u)+" – "+vu(hi,u)+" · "+t("trendRange")+" "+Math.round((t1-t0)/60000)+" "+t("mins")))}
function loadHist(asset,role){var k=asset+"|"+role,c=st.hist[k];if(c&&Date.now()-c.at<60000)return;
 if(c)c.at=Date.now();else st.hist[k]={at:Date.now(),points:null,from_ms:0,to_ms:1};
 var base="/api/v1/assets/"+encodeURIComponent(asset)+"/history?points=60&role="+encodeURIComponent(role);
 // The last hour; when that holds too few points (a fresh gateway), the last five minutes.
 getJSON(base).then(function(d){if((d.points||[]).length>=10)return d;var now=Date.now();return getJSON(base+"&from_ms="+(now-300000)+"&to_ms="+now)})
  .then(function(d){d.at=Date.now();st.hist[k]=d;render()},function(){})}

function shownFindings(){var fs=(st.findings||[]).slice(),ids={};fs.forEach(function(f){ids[f.id]=1});
 // A finding cleared (or replaced) while someone types a note on it stays on screen with its form.
 if(view.kind==="home")Object.keys(cards).forEach(function(id){var c=cards[id];if(!ids[id]&&c.f&&c.form&&c.form.busy()){var d=st.details[id];
  fs.push(d&&d.state?Object.assign({},c.f,{state:d.state,cleared_at:d.cleared_at}):c.f);if((!d||d.state==="open")&&!(Date.now()-(c.chk||0)<10000)){c.chk=Date.now();loadDetail(id)}}});
 if(view.kind==="asset")fs=fs.filter(function(f){return f.asset===view.id}).concat(st.cleared[view.id]||[]);
 if(view.kind==="finding"){var d=st.details[view.id];fs=d?[Object.assign({},d)]:fs.filter(function(f){return String(f.id)===view.id})}
 // Worst first; equal severity in a stable order (oldest finding first), never by the last poll.
 return fs.sort(function(a,b){return (a.state==="cleared")-(b.state==="cleared")||(RANK[b.severity]||0)-(RANK[a.severity]||0)||a.id-b.id})}
function renderFindings(){var box=$("findings");
 if(!st.findings){if(!box.firstChild)box.appendChild(h("div",{cls:"empty"},t("loading")));return}
 var fs=shownFindings(),keep={},prev=null;
 var nOpen=fs.filter(function(f){return f.state!=="cleared"}).length;$("n-find").textContent=view.kind!=="finding"&&nOpen?nOpen+" "+t("open"):"";
 fs.forEach(function(f){var el=cardFor(f);keep[f.id]=1;var want=prev?prev.nextSibling:box.firstChild;if(want!==el)box.insertBefore(el,want);prev=el});
 Array.prototype.slice.call(box.children).forEach(function(e){if(!keep[e.getAttribute("data-id")]||!e.getAttribute("data-id"))e.remove()});
 if(!fs.length)box.appendChild(h("div",{cls:"empty","data-testid":"no-findings"},view.kind==="finding"?t(st.details[view.id]===null?"notFound":"loading"):t("noFind")+(st.err&&st.okAt?" ("+t("dataFrom")+" "+hm(st.okAt)+")":"")));
 if(view.kind==="asset"&&st.cleared[view.id]&&!st.cleared[view.id].length)box.appendChild(h("div",{cls:"meta","data-testid":"no-cleared"},t("noCleared")))}

function assetCard(a){var s=assetState(a),sev=RANK[s]?s:s==="none"?"none":"unknown",xs=a.assessments||[],ab=xs.filter(function(x){return x.status==="abstain"}).length;
 return h("article",{cls:"card s-"+sev,"data-testid":"asset","data-asset":a.id,"data-severity":s},
  h("div",{cls:"row"},h("span",{cls:"pill b-"+sev,"data-testid":"asset-state"},stateName(s)+(a.open_findings?" · "+a.open_findings+" "+t("open"):"")),
   h("a",{cls:"title",style:"margin:0",href:"#/assets/"+encodeURIComponent(a.id)},a.id+" · "+a.name)),
  h("div",{cls:"meta"},(S.en["c_"+a.class]?t("c_"+a.class):a.class)+(ab&&xs.length?" · "+ab+"/"+xs.length+" "+t("abstainN"):"")),
  baselineLines(a.id),
  h("button",{type:"button",cls:"xbtn","data-testid":"trends","aria-expanded":trendsOpen[a.id]?"true":"false",on:function(){
   if(trendsOpen[a.id])delete trendsOpen[a.id];else trendsOpen[a.id]=1;render()}},trendsOpen[a.id]?"▴ "+t("hideTrends"):"▾ "+t("trends")),
  trendsOpen[a.id]?h("div",{cls:"sec","data-testid":"asset-trends"},(a.values||[]).filter(function(v){return v.value!=null}).map(function(v){
   loadHist(a.id,v.role);return h("div",{"data-testid":"asset-trend","data-role":v.role},h("div",{cls:"meta"},(lang==="zh"?v.label_zh:v.label_en)||v.role),chart(st.hist[a.id+"|"+v.role],v.unit))})):null,
  h("table",{cls:"sec"},h("tbody",null,(a.values||[]).map(function(v){return h("tr",{"data-role":v.role},
   h("td",null,(lang==="zh"?v.label_zh||v.label_en:v.label_en||v.label_zh)||v.role,qflag(v.quality)),h("td",{cls:"n"},vu(v.value,v.unit)))}))),
  h("div",{cls:"sec"},xs.map(function(x){var cr=x.criterion||{},s=x.status;
   return h("div",{cls:"crit","data-testid":"assessment","data-criterion":cr.id,"data-status":s},
    h("div",{cls:"row"},h("span",{cls:"st st-"+s},S.en[s]?t(s):s),h("span",{cls:"ctl"},LT(cr,"title")||cr.id),cr.verification?vbadge(cr.verification):null),
    s==="fault"&&x.code?h("div",{cls:"code"},x.code):null,
    s==="abstain"&&x.reason?h("div",{cls:"det why"},S.en["r_"+x.reason]?t("r_"+x.reason):x.reason):null,
    x.detail?h("div",{cls:"det","data-testid":"assessment-detail"},LT(x,"detail")):null,
    x.verdict&&x.verdict.kind!=="diagnosis"&&x.verdict.kind!=="normal"?h("div",{cls:"det","data-testid":"verdict-kind","data-kind":x.verdict.kind},t("vk_"+x.verdict.kind)):null)})),
  view.kind==="asset"?h("div",{cls:"sec qr","data-testid":"qr"},h("h3",null,t("qr")),h("img",{src:"/api/v1/assets/"+encodeURIComponent(a.id)+"/qr.svg?url="+encodeURIComponent(location.origin+"/#/assets/"+encodeURIComponent(a.id)),alt:t("qrFor")+" "+a.id,width:"160",height:"160"}),
   h("div",{cls:"meta"},t("qrFor")+": "+location.origin+"/#/assets/"+a.id),h("button",{type:"button",cls:"xbtn sm noprint",on:function(){window.print()}},t("print"))):null)}

// Per-asset baselines (GET /api/v1/baselines): state, learning progress or what was learned.
function baselineLines(id){return (st.baselines||[]).filter(function(b){return b.asset===id}).map(function(b){
 return h("div",{cls:"meta","data-testid":"baseline","data-baseline":b.name,"data-state":b.state},t("baseline")+" "+b.name+": "+(S.en["bl_"+b.state]?t("bl_"+b.state):b.state)+
  (b.state==="learning"?" · "+b.progress+" / "+b.learn:" · "+tm(b.learned_from)+" – "+tm(b.learned_to)+" · "+b.samples+" "+t("samples")))})}

var assetSig="";
function renderAssets(){var box=$("assets");if(!st.assets){if(!box.firstChild)box.appendChild(h("div",{cls:"empty"},t("loading")));return}
 var as=st.assets.filter(function(a){return view.kind!=="asset"||a.id===view.id});
 // Worst first; unknown above normal; then in the configured order.
 as=as.map(function(a,i){return[a,i]}).sort(function(x,y){return AR[assetState(y[0])]-AR[assetState(x[0])]||x[1]-y[1]}).map(function(x){return x[0]});
 var sig=JSON.stringify([lang,as,st.baselines,trendsOpen,view,Object.keys(st.hist).map(function(k){return st.hist[k].at})]);
 if(sig!==assetSig||!box.firstChild){assetSig=sig;var frag=document.createDocumentFragment();as.forEach(function(a){frag.appendChild(assetCard(a))});box.replaceChildren(frag)}
 var sel=$("askasset");if(sel&&sel.options.length!==st.assets.length+1){var v=sel.value;sel.replaceChildren(h("option",{value:""},"—"));st.assets.forEach(function(a){var o=h("option",{value:a.id},a.name||a.id);sel.appendChild(o)});sel.value=v}}

function renderGateway(){var hz=st.health,b=$("gwbody");if(!hz)return;
 function line(k,v){return h("div",{cls:"ev"},h("b",null,t(k)+": "),v)}
 var up=hz.uptime_s|0,ups=Math.floor(up/86400)+t("days")+" "+pad(Math.floor(up/3600)%24)+":"+pad(Math.floor(up/60)%60)+":"+pad(up%60);
 b.replaceChildren(h("div",null,
  st.me?h("div",{cls:"ev user","data-testid":"me"},h("b",null,t("signedAs")+": "),st.me.user+" ("+st.me.role+") ",h("button",{type:"button",cls:"xbtn sm","data-testid":"logout",on:logout},t("logout"))):null,
  line("version_",hz.version||""),line("uptime",ups),line("lastEval",tm(hz.last_evaluation)),
  line("store",(hz.store&&hz.store.ok?t("ok_"):t("error_"))+(hz.store&&hz.store.samples!=null?" · "+hz.store.samples+" "+t("samples"):"")),
  line("sources",""),(hz.sources||[]).map(function(s){return h("div",{cls:"ev"},"• ",h("span",{cls:"code"},s.id)," "+(s.endpoint||"")+" — ",
   h("b",null,s.connected?t("connected"):t("disconnected")),", "+(s.errors||0)+" "+t("errors"))}),
  line("models",(hz.models||[]).length?"":t("none_")),(hz.models||[]).map(function(md){return h("div",{cls:"ev"},"• "+md.name+" "+md.version+" ("+md.provider+"), "+t("threshold")+" "+md.threshold)}),
  (hz.model_errors||[]).length?line("modelErrors",hz.model_errors.map(function(x){return typeof x==="string"?x:JSON.stringify(x)}).join("; ")):null,
  (hz.disabled_criteria||[]).length?line("disabled",hz.disabled_criteria.map(function(x){return typeof x==="string"?x:JSON.stringify(x)}).join("; ")):null))}

var hold=false,pending=false;
document.addEventListener("pointerdown",function(){hold=true},true);
["pointerup","pointercancel"].forEach(function(n){document.addEventListener(n,function(){hold=false;if(pending){pending=false;setTimeout(render,60)}},true)});
function render(){if(hold){pending=true;return}renderStatic();renderHeader();renderFindings();renderAssets();renderGateway();renderQueue()}

// A JSON answer, or an error: a failed, timed-out or cut-off answer is never an empty one.
// Lists are asked with the ETag of the last answer; 304 means "as before".
var etags={};
function getJSON(path,allowErr){var ac=typeof AbortController!=="undefined"?new AbortController():null;
 var tid=setTimeout(function(){if(ac)ac.abort()},TIMEOUT),hd={Accept:"application/json"},old=etags[path];
 if(old)hd["If-None-Match"]=old.tag;
 return fetch(path,{cache:"no-store",signal:ac?ac.signal:undefined,headers:hd}).then(function(r){
  // The service worker answers from its cache when the gateway is unreachable, and says so.
  var off=r.headers.get("X-Edgecite-Offline");if(off){var at=Number(r.headers.get("X-Edgecite-Cached-At"));st.offline=true;
   if(at&&(!st.cachedAt||at<st.cachedAt))st.cachedAt=at}
  if(r.status===304&&old){clearTimeout(tid);return old.data}
  return r.text().then(function(s){clearTimeout(tid);var j,bad=false;try{j=JSON.parse(s)}catch(e){bad=true}
   if(r.status===401&&!allowErr){var e0=new Error("401");e0.auth=true;throw e0}
   if(bad){var e1=new Error((r.ok?"incomplete answer":"HTTP "+r.status)+" ("+s.length+" bytes) from "+path.split("?")[0]);e1.api=!r.ok;e1.status=r.status;throw e1}
   if(r.ok||(allowErr&&j&&j.status)){var tag=r.headers.get("ETag");if(tag&&r.ok&&!off)etags[path]={tag:tag,data:j};return j}
   var e=new Error(j&&j.error?j.error.code+": "+j.error.message:"HTTP "+r.status);e.api=true;e.status=r.status;throw e})},
  function(e){clearTimeout(tid);throw e})}

function loadDetail(id){return Promise.all([getJSON(Q("/api/v1/findings/"+encodeURIComponent(id))),getJSON("/api/v1/findings/"+encodeURIComponent(id)+"/notes").catch(function(){return null})]).then(function(r){
 var d=r[0];if(d){st.details[id]=d;if(r[1])st.notes[id]=r[1];
  (st.findings||[]).forEach(function(f,i){if(String(f.id)===String(id))st.findings[i]=Object.assign({},f,{acknowledged:d.acknowledged,state:d.state})});
  render()}},function(e){if(e&&e.status===404&&view.kind==="finding"&&view.id===String(id)){st.details[id]=null;render()}})}
function loadCleared(asset){getJSON(Q("/api/v1/findings?state=cleared&limit=50&asset="+encodeURIComponent(asset))).then(function(l){st.cleared[asset]=l;render()},function(){})}

var timer=null,busy=false;
function poll(force){if(busy)return;clearTimeout(timer);
 if(document.hidden)return;
 busy=true;st.offline=false;st.cachedAt=null;
 var now=Date.now(),lv=!force&&!st.err&&liveFresh(),fr=st.frev;
 var wantHealth=force||!st.health||now-st.healthAt>=POLL_HEALTH||st.err;
 var wantAssets=!lv||!st.assets,wantFind=!lv||!st.findings||st.frevSeen!==fr||now-st.findAt>=POLL_SLOW,wantBase=!lv||now-st.baseAt>=POLL_HEALTH;
 Promise.all([wantHealth?getJSON("/healthz",true):st.health,wantAssets?getJSON(Q("/api/v1/assets")):st.assets,wantFind?getJSON(Q("/api/v1/findings?state=open")):st.findings,st.meOk?null:getJSON("/api/v1/auth/me"),wantBase?getJSON("/api/v1/baselines").catch(function(){return null}):st.baselines]).then(function(r){
  if(!Array.isArray(r[1])||!Array.isArray(r[2]))throw new Error("incomplete answer");
  if(wantHealth)st.healthAt=now;if(wantFind){st.findAt=now;st.frevSeen=fr}if(wantBase)st.baseAt=now;
  st.health=r[0];st.assets=r[1];st.findings=r[2];if(r[3]&&!st.offline){setMe(r[3]);st.meOk=true}st.auth=true;if(Array.isArray(r[4]))st.baselines=r[4];
  if(st.offline){st.okAt=st.cachedAt?new Date(st.cachedAt):st.okAt;st.err={api:false,msg:"offline"}}
  else{st.okAt=new Date();st.err=null;live();flush()}
  var ids={};st.findings.forEach(function(f){ids[f.id]=1});
  Object.keys(open).forEach(function(k){if(ids[k])loadDetail(k)});
 },function(e){if(e&&e.auth){st.auth=false;st.meOk=false;setMe(null)}else st.err={api:!!(e&&e.api),msg:e&&e.message?e.message:String(e)}}).then(function(){
  busy=false;render();if(st.auth!==false)timer=setTimeout(poll,POLL_FIND)})}
function setMe(m){st.me=m;try{if(m)localStorage.setItem("edgecite.me",JSON.stringify(m));else localStorage.removeItem("edgecite.me")}catch(e){}}

// Live values by server-sent events: the whole list once, then only what changed.
var es=null;
// A delta from the stream: changed fields; objects and keyed lists ([{k,...}]) diffed down.
// The key as the gateway diffs: a method's criterion (several share the role "confirmation"),
// an assessment's criterion id, a value's role.
function ekey(e){return e&&(e.criterion!==undefined?(typeof e.criterion==="string"?e.criterion:e.criterion&&e.criterion.id):e.role)}
function apply(x,d){for(var f in d){if(f==="k")continue;var v=d[f],o=x[f];
 if(Array.isArray(v)&&Array.isArray(o)&&v.length&&v[0]&&v[0].k!==undefined)v.forEach(function(e){var t=o.filter(function(y){return ekey(y)===e.k})[0];if(t)apply(t,e)});
 else if(v&&o&&typeof v==="object"&&typeof o==="object"&&!Array.isArray(v)&&!Array.isArray(o))apply(o,v);else x[f]=v}}
function live(){if(es||typeof EventSource==="undefined"||document.hidden)return;es=new EventSource(Q("/api/v1/live?interval_s="+LIVE_S));
 es.addEventListener("assets",function(ev){var a;try{a=JSON.parse(ev.data)}catch(e){return}
  if(!st.assets)return;var by={};a.forEach(function(x){by[x.id]=x});
  st.assets=st.assets.map(function(x){var n=by[x.id];return n?Object.assign({},x,{values:n.values,assessments:n.assessments}):x});st.liveAt=new Date();renderAssets();renderHeader()});
 es.addEventListener("delta",function(ev){var d;try{d=JSON.parse(ev.data)}catch(e){return}
  if(!st.assets)return;st.assets=st.assets.map(function(x){var n=(d.assets||[]).filter(function(y){return y.id===x.id})[0];if(!n)return x;
   var c=JSON.parse(JSON.stringify(x));apply(c,n);return c});st.liveAt=new Date();renderAssets();renderHeader()});
 // The findings' revision: a finding opened, changed, cleared or was acknowledged.
 es.addEventListener("findings",function(ev){var d;try{d=JSON.parse(ev.data)}catch(e){return}
  st.liveAt=new Date();if(d&&d.rev!=null){st.frev=d.rev;if(st.frevSeen!==null&&st.frevSeen!==d.rev)poll()}});
 es.onerror=function(){es.close();es=null}}
function stopLive(){if(es){es.close();es=null}}
function liveFresh(){return !!es&&!!st.liveAt&&Date.now()-st.liveAt<LIVE_FRESH}

// Reference search (GET /api/v1/ask, served when the gateway has a reference library).
function unesc(s){return s.replace(/&lt;/g,"<").replace(/&gt;/g,">").replace(/&quot;/g,'"').replace(/&#39;/g,"'").replace(/&#x27;/g,"'").replace(/&amp;/g,"&")}
function marked(s){var out=[],on=false;String(s||"").split(/(<mark>|<\/mark>)/).forEach(function(p){
 if(p==="<mark>")on=true;else if(p==="</mark>")on=false;else if(p)out.push(on?h("mark",null,unesc(p)):unesc(p))});return out}
$("ask").addEventListener("submit",function(ev){ev.preventDefault();var q=$("askq").value.trim(),box=$("askres");if(!q)return;
 box.replaceChildren(h("div",{cls:"meta"},t("loading")));
 var as=$("askasset")&&$("askasset").value;
 getJSON("/api/v1/ask?limit=10&lang="+(lang==="zh"?"zh":"en")+(as?"&asset="+encodeURIComponent(as):"")+"&q="+encodeURIComponent(q)).then(function(d){
  var rs=(d&&d.results)||[];
  box.replaceChildren(h("div",null,d&&d.supported===false?h("div",{cls:"err"},d.reason||t("askNA")):null,
   d&&d.supported&&(d.reason||d.context_note)?h("div",{cls:"meta","data-testid":"ask-note"},[d.reason,d.context_note].filter(Boolean).join(" · ")):null,
   rs.length?null:h("div",{cls:"empty","data-testid":"ask-empty"},d&&d.reason?d.reason:t("askNone")),
   rs.map(function(x){return h("div",{cls:"res","data-testid":"ask-result"},h("div",{cls:"row"},vbadge(x.verification),h("b",null,x.doc_title||x.doc_id),x.nearest?h("span",{cls:"q"},t("nearest")):null),
    h("div",{cls:"meta"},h("span",{cls:"code"},x.doc_id),x.edition?" · "+t("edition")+" "+x.edition:"",x.clause?" · "+t("clause")+" "+x.clause:""),
    h("p",null,marked(x.highlight||x.text)))})))
 },function(e){box.replaceChildren(h("div",{cls:"err","data-testid":"ask-na"},e&&e.status===404?t("askNA"):e&&!e.api?t("offline")+(st.okAt?" · "+t("lost")+" "+hm(st.okAt):""):(e&&e.message)||String(e)))})});

$("login").addEventListener("submit",function(ev){ev.preventDefault();var err=$("login-err");err.hidden=true;
 fetch("/api/v1/auth/login",{method:"POST",headers:{"Content-Type":"application/json"},body:JSON.stringify({username:$("user").value,password:$("pass").value})}).then(function(r){
  return r.json().catch(function(){return null}).then(function(j){
   if(!r.ok){err.hidden=false;err.textContent=r.status===401?t("badLogin"):(j&&j.error?j.error.message:"HTTP "+r.status);return}
   setMe(j);st.auth=true;$("pass").value="";render();poll(true)})},function(e){err.hidden=false;err.textContent=t("offline")+" ("+String(e)+")"})});

function logout(){fetch("/api/v1/auth/logout",{method:"POST"}).then(function(){
 if(navigator.serviceWorker&&navigator.serviceWorker.controller)navigator.serviceWorker.controller.postMessage("clear");
 setMe(null);st.meOk=false;st.auth=false;etags={};stopLive();render()})}
$("nav").addEventListener("click",function(){location.hash="#/"});
$("lang").addEventListener("click",function(){lang=lang==="zh"?"en":"zh";try{localStorage.setItem("edgecite.lang",lang)}catch(e){}stopLive();render();
 // Ask the gateway again in the new language (the texts above already switched from the *_i18n pairs).
 poll(true);Object.keys(open).forEach(loadDetail);if(view.kind==="asset")loadCleared(view.id)});
// A hidden tab asks nothing: no stream, no polls; back in view, one refresh at once.
document.addEventListener("visibilitychange",function(){if(document.hidden){stopLive();clearTimeout(timer)}else poll(true)});
setInterval(function(){if(!document.hidden&&st.err)renderHeader()},5000);
if("serviceWorker" in navigator)navigator.serviceWorker.register("/sw.js").catch(function(){});
parseRoute();render();loadQueue().then(function(){render();poll(true)});
})();
