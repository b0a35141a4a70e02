"""An English letter-trigram profile: how English-shaped a Latin-script sentence's words are, with no vocabulary.

The defence removes a short sentence in another language than its context's when it is not anchored to the
rest (:mod:`.relevance`). A non-English sentence with accents or another script is easy to see; one in plain
ASCII letters (Finnish, Swahili, Indonesian, Tagalog, Welsh) is not. :func:`english_share` is the share of
a text's letter trigrams (per word, padded with ``_``) that are among the 1,500 most frequent trigrams of
English legal prose (the ContractNLI dev documents, built by ``scripts/english_trigrams.py``): English
sentences of other registers score high (terse clinical labels such as "Retrospective cohort study." 0.76
and above), and sentences in the languages above mostly well below.
"""

from __future__ import annotations

import re

__all__: list[str] = []

_PROFILE_TEXT = (
    "_ab _ac _ad _af _ag _ah _al _am _an _ao _ap _ar _as _at _au _av _ba _bd _be _bi _bl _bo _bp _br "
    "_bu _by _ca _ce _ch _ci _cl _cn _co _cr _cu _da _de _di _do _dr _du _ea _ef _ei _el _em _en _eq "
    "_es _ev _ex _fa _fe _fi _fo _fr _fu _ge _gi _go _gr _ha _he _hi _ho _id _if _ii _im _in _ir _is "
    "_it _iv _jo _ju _ke _kn _la _le _li _ll _lo _ma _me _mi _mo _mu _na _nd _ne _no _nu _ob _of _om "
    "_on _op _or _ot _ou _ov _ow _pa _pe _ph _pl _po _pr _pu _qu _re _ri _ro _ru _sa _sc _se _sh _si "
    "_sk _so _sp _st _su _sy _ta _te _th _ti _to _tr _tw _un _up _us _va _ve _vi _vo _wa _we _wh _wi "
    "_wo _wr _ye _yo abi abl abo acc ace ach ack acq acs act acy ad_ add ade adi adm adv aff aft aga "
    "age agr ahp aid ail aim ain air aiv ake aki al_ ald ale alf ali all als alt alu aly ama ame amp "
    "an_ ana anc and ane ang ani ann ano ans ant anu any aoc aph api apo app ar_ ara arb arc ard are "
    "ari ark arl arm arr ars art ary as_ ase asi aso ass ast at_ ata ate ati atm ato ats att atu au_ "
    "aug aus aut ava ave avi aw_ awa aws ax_ ay_ ays bal bas bdo be_ bec bee bef beh bei bel ben ber "
    "bet bid bil bin bit bje ble bli blu bly bmi bod bot bou bov bps bre bro bse bsi bst bta bus but "
    "by_ ca_ cab cal can cap car cas cat cau cce cco ccu ce_ cea ced cee cei cem cen cep cer ces ch_ "
    "cha che chi chn cia cie cif cin cip cir cis cit ck_ ckh ckn cla cle cli clo clu cnd co_ col com "
    "con coo cop cor cos cou cov cqu cre cri csi ct_ cte cti ctl cto ctr cts ctu cul cum cur cus cut "
    "cy_ da_ dam dan dat day ddi ddr de_ dea dec ded dee def deg del dem den dep deq der des det dev "
    "dge dia dic die dif din dir dis dit div dme dmi do_ doc doe dom dor dra dre ds_ dua duc dul dur "
    "dvi dwi dy_ eab eac ead eaf eal ean ear eas eat eby eca ece ech eci eco ecr ect ecu ed_ ede edg "
    "edi edu edy ee_ eed eek eem een eep ees eet ef_ efe eff efi efo ega ege egi ego egr egu eha ein "
    "eip eir eit eiv ek_ ekn el_ ela eld ele eli ell elo ely em_ ema emb eme emn emo emp ems en_ ena "
    "enc end ene enf eng eni ens ent enu eof ep_ epa epe epo epr ept equ er_ era erc ere erf erg eri "
    "erm ern erp err ers ert erv erw ery es_ esc ese esi esp ess est esu et_ eta ete eth eti eto ets "
    "ett etu etw eun eva eve evi ew_ ewi exc exe exi exp ext ey_ eys fac fai fau fax fec fed fee fer "
    "ffe ffi ffo fic fid fie fil fin fir fit fli fol for fro fte ftw ful fur fut fy_ fyi gag gai gal "
    "gan gar gat ge_ ged gem gen ger ges get gh_ ght gib gin gis giv gn_ gna gne gni gns goi goo got "
    "gov gra gre gro gs_ gul gy_ hal han har has hat hav he_ hea hed hei hel hem hen her hes het hey "
    "hib hic hie hin hip hir his hni hno ho_ hol hom hon hor hos hou how hpl hre hro hst ht_ hts ia_ "
    "iab ial ian iar iat ibi ibl ibu ic_ ica ice ich ici icl ict icu id_ ida ide idi idu ied ief ien "
    "ier ies iet iew if_ ifi ify iga igh igi ign ii_ iii il_ ila ile ili ill ilu im_ ime imi imm imp "
    "in_ ina inc ind ine inf ing ini inj ins int inu inv iod iol ion ior iou ip_ ipa ipi ipt iqu ir_ "
    "irc ird ire irm irr irs irt is_ isa isc isd ise ish isi iso isp iss ist it_ ita ite ith iti itl "
    "itn itr its itt itu ity iv_ iva ive ivi ize jec joi jud jun jur ke_ kee ker ket kho kin kni kno "
    "ks_ lab lac lai lan lar las lat lau law lay lc_ ld_ lde ldi ldw le_ lea lec led leg lel lem ler "
    "les let lev lf_ lia lic lid lie lif lig lim lin lis lit liv ll_ llc lle lli llo lly loc log lon "
    "lop los low loy ls_ lso lt_ lta lth lti lua lud lue lur lus lve ly_ lys mad mag mai mak man mar "
    "mat may mbe me_ mea med mee mem men mer mes mil min mis mit mma mme mmi mmu mni mod mon mor mpa "
    "mpe mpi mpl mpo mpt mpu ms_ mst mun mus mut na_ nab nad naf nag nal nam nan nar nat nau nc_ nce "
    "nci ncl nco nct ncu ncy nd_ nda nde ndi ndm ndo nds ndu ne_ nec ned nee nef neg nei nen ner nes "
    "net new ney nfi nfl nfo ng_ nga nge ngi ngl ngs nia nic nif nig nin niq nis nit niz nju nle nly "
    "nme nne nno no_ nol non nor not now ns_ nsa nse nsh nsi nsm nst nsu nt_ nta nte nti ntl nto ntr "
    "nts nty nue num nva nve nvo ny_ obl obt oc_ oca oce oci ock ocu od_ ode odi odu ody oes oev of_ "
    "off oft oge ogr ogy ohi oin oje oke oks ol_ ola old ole oli oll olo olv om_ ome omi omm omp on_ "
    "ona onc ond one onf ong oni onl onn ons ont onv ood ook ope opi opm opo opp opr opy or_ ora orc "
    "ord ore org ori ork orm orn orp ors ort ory osa ose osi osp oss ost osu ot_ ote oth oti otw ou_ "
    "oug oul oun oup our ous out ove ovi ow_ owe owi owl own ows oy_ oye pai pan par pat pe_ pec ped "
    "pen per pet ph_ pho pie pil pin pl_ pla ple pli plo ply pme pon por pos pot pow ppl ppo ppr pra "
    "pre pri pro ps_ pt_ pti ptl pub pur put py_ pyr qua que qui rab rac rad rag ral ram ran rap rat "
    "rbi rce rch rci rcu rd_ rda rde rdi rds re_ rea reb rec red ree ref reg rei rel rem ren reo rep "
    "req res ret reu rev rfo rga rge ria rib ric rie rig rin rio ris rit riv riz rk_ rke rm_ rma rme "
    "rmi rms rn_ rna rne rni rnm roc rod rof rog roh roj rol rom ron roo rop ros rot rou rov row roy "
    "rpa rpo rpr rra rre rro rs_ rse rsh rsi rso rst rsu rt_ rta rth rti rtn rts rtu rty ruc rue rul "
    "rum rve rvi rwi ry_ sac sal sam sar sat sch scl sco scr scu sdi se_ sec sed see sel sen seq ser "
    "ses set sev sh_ sha she shi sho sib sid sig sim sin sio sis sit siv sly smi so_ soc soe sof sol "
    "son sor sou spe spo spu ss_ ssa sse ssi ssl sso ssu st_ sta ste sti sto str sts stu sua sub suc "
    "suf sui sul sum sup sur sys ta_ tab tac tai tak tal tan tar tat te_ tec ted teg tel tem ten ter "
    "tes th_ tha the thi tho thr ths tia tic tie tif tig til tim tin tio tir tit tiv tle tly tme tne "
    "to_ toc tog tom ton tor tra tre tri tro tru ts_ tso tte tto tua tud tur tut twa twe twi two ty_ "
    "ual uan uat ubj ubl ubm ubs ucc uce uch uct ude udi ue_ ued uek uen ues uff ugh uir uis uit ul_ "
    "ula uld ule ull ult uly um_ umb ume umm ums una unc und une uni unl uns unt up_ upe upo upp ur_ "
    "ura urc ure uri urn urp urr urs urt urv us_ use usi uss ust ut_ ute uth uti utu va_ vai val van "
    "vap ve_ ved vel ven ver ves vic vid vie vil vin vio vir vis viv vol wai war was way wee wer wev "
    "wha whe whi who wil win wis wit wle wn_ wne wor wou wri ws_ xce xch xcl xec xer xis xpe xpr xte "
    "yea yed yee yin yme yor you yri ys_ ysi yst zed "
)
_PROFILE = frozenset(_PROFILE_TEXT.split())


def _trigrams(word: str) -> list[str]:
    padded = f"_{word}_"
    return [padded[i : i + 3] for i in range(len(padded) - 2)]


def english_share(text: str) -> float:
    """Share of the letter trigrams of ``text``'s ASCII words (2+ letters, lower-cased) in the English
    profile; 1.0 for a text without such words."""
    grams = [g for w in re.findall(r"[a-z]{2,}", text.lower()) for g in _trigrams(w)]
    return sum(g in _PROFILE for g in grams) / len(grams) if grams else 1.0
